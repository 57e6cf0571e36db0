// The managers we may talk to, weighted by how they served us. Seeds come from the
// configuration; the session's manager list replaces them once we have one.

export const WEIGHT_SUCCESS = 1;
/** A manager that answered but failed the session (no leader to forward to, a stream cut). */
export const WEIGHT_FAILURE = -4;
/** A manager never connected to (refused, unreachable): most likely down. Ranked below the ones
 *  that answer for ten of their failures, so after a leader election the next round goes to a
 *  live manager, not to the one that went away (a backoff round lost there, up to 8 s, when the
 *  dispatcher declares the node down 3 heartbeat periods after its last one). */
export const WEIGHT_UNREACHABLE = -40;
const DEFAULT_WEIGHT = 10;
/** How long a manager found unreachable is passed over while another may be tried. Weights alone
 *  remember forever: a manager refused once and back since (never tried again, as the session went
 *  elsewhere) kept its penalty, and when a second manager stopped later the two ranked alike, so
 *  rounds went to the one just stopped (issue #13's failover suite, CI). A fresh refusal is the
 *  sign of a manager that is down; an old one is not. */
export const UNREACHABLE_AVOID_MS = 30_000;

export class Remotes {
  private readonly weights = new Map<string, number>();
  private readonly unreachableAt = new Map<string, number>();

  constructor(seeds: readonly string[]) {
    for (const s of seeds) this.weights.set(s, DEFAULT_WEIGHT);
  }

  list(): string[] {
    return [...this.weights.keys()];
  }

  /** The best-weighted manager; ties broken at random; `exclude` skips the one that just failed;
   *  a manager found unreachable within UNREACHABLE_AVOID_MS only when no other is left. */
  pick(exclude?: string, random = Math.random, now = Date.now()): string | undefined {
    const candidates = [...this.weights.entries()].filter(([a]) => a !== exclude || this.weights.size === 1);
    const reachable = candidates.filter(([a]) => !(now - (this.unreachableAt.get(a) ?? -Infinity) < UNREACHABLE_AVOID_MS));
    const entries = reachable.length > 0 ? reachable : candidates;
    if (entries.length === 0) return undefined;
    const best = Math.max(...entries.map(([, w]) => w));
    const top = entries.filter(([, w]) => w === best);
    return top[Math.floor(random() * top.length)]![0];
  }

  observe(addr: string, delta: number, now = Date.now()): void {
    const w = this.weights.get(addr);
    if (w === undefined) return;
    this.weights.set(addr, w + delta);
    if (delta === WEIGHT_UNREACHABLE) this.unreachableAt.set(addr, now);
    else this.unreachableAt.delete(addr);
  }

  /** Replaces the set with the session's manager list, keeping what we learned of known ones. */
  replace(peers: ReadonlyArray<{ addr: string; weight: number }>): void {
    if (peers.length === 0) return;
    const next = new Map<string, number>();
    for (const p of peers) if (p.addr) next.set(p.addr, this.weights.get(p.addr) ?? (p.weight || DEFAULT_WEIGHT));
    if (next.size === 0) return;
    this.weights.clear();
    for (const [a, w] of next) this.weights.set(a, w);
    for (const a of [...this.unreachableAt.keys()]) if (!next.has(a)) this.unreachableAt.delete(a);
  }
}

export interface Backoff {
  next(): number;
  reset(): void;
}

/** Jittered exponential backoff: each delay is uniformly drawn from [base/2, base]. */
export function jitteredBackoff(initialMs: number, maxMs: number, factor = 2, random = Math.random): Backoff {
  let base = initialMs;
  return {
    next() {
      const d = base / 2 + random() * (base / 2);
      base = Math.min(base * factor, maxMs);
      return Math.round(d);
    },
    reset() {
      base = initialMs;
    },
  };
}
