import type { GoalSpec } from './core.js';

/**
 * A benchmark module under test/bench/<name>.ts default-exports one of these.
 * The runner calls setup once, measure `runs` times (each returns one sample per figure),
 * teardown once, and reports medians and goals.
 */
export interface Benchmark<Ctx = unknown> {
  description: string;
  runs: number;
  setup(): Promise<Ctx>;
  measure(ctx: Ctx, run: number): Promise<Record<string, number>>;
  teardown(ctx: Ctx): Promise<void>;
  goals: Record<string, GoalSpec>;
}

export function defineBenchmark<Ctx>(b: Benchmark<Ctx>): Benchmark<Ctx> {
  return b;
}
