/**
 * Orders strings by UTF-16 code unit, as `<` does: deterministic and locale-free. For the
 * orders berth keeps (rules, mounts, listings of ids and names), where `localeCompare` would
 * load ICU's collator and touch ~2 MB of the Node binary's collation data that stays resident.
 */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
