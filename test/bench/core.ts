// Pure parts of the benchmark runner: medians, goal targets, the result line.

export type GoalTarget = `<= ${number}` | `>= ${number}` | `< ${number}` | `> ${number}`;

export interface GoalSpec {
  /** Computes the goal's value from the per-figure medians. */
  value(medians: Readonly<Record<string, number>>): number;
  target: GoalTarget;
}

export interface GoalResult {
  value: number;
  target: GoalTarget;
  met: boolean;
}

export interface BenchResult {
  bench: string;
  machine: Record<string, unknown>;
  figures: Record<string, number | number[] | string>;
  goals: Record<string, GoalResult>;
}

export class BenchError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BenchError';
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new BenchError('E_NO_SAMPLES', 'median of no samples');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new BenchError('E_NO_SAMPLES', 'percentile of no samples');
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

const TARGET_RE = /^(<=|>=|<|>) (-?\d+(?:\.\d+)?)$/;

export function parseTarget(target: string): { op: '<=' | '>=' | '<' | '>'; bound: number } {
  const m = TARGET_RE.exec(target);
  if (!m) throw new BenchError('E_BAD_TARGET', `goal target "${target}" is not of the form "<= 1.0" or ">= 20"`);
  return { op: m[1] as '<=' | '>=' | '<' | '>', bound: Number(m[2]) };
}

export function goalMet(value: number, target: GoalTarget): boolean {
  if (!Number.isFinite(value)) return false;
  const { op, bound } = parseTarget(target);
  switch (op) {
    case '<=':
      return value <= bound;
    case '>=':
      return value >= bound;
    case '<':
      return value < bound;
    case '>':
      return value > bound;
  }
}

/** Medians of every figure over the runs; each run yields one sample per figure. */
export function mediansOf(runs: ReadonlyArray<Readonly<Record<string, number>>>): Record<string, number> {
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const n of names) {
    const samples = runs.map((r) => r[n]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (samples.length > 0) out[n] = median(samples);
  }
  return out;
}

export function evaluateGoals(goals: Readonly<Record<string, GoalSpec>>, medians: Readonly<Record<string, number>>): Record<string, GoalResult> {
  const out: Record<string, GoalResult> = {};
  for (const [name, g] of Object.entries(goals)) {
    const value = g.value(medians);
    out[name] = { value: round(value), target: g.target, met: goalMet(value, g.target) };
  }
  return out;
}

export function round(v: number, digits = 4): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
