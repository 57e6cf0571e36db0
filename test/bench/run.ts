// Benchmark runner: `npm run bench -- <name>` runs test/bench/<name>.ts, prints progress to
// stderr and, last on stdout, one JSON line with the medians and goals.
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BenchError, evaluateGoals, mediansOf, round, type BenchResult } from './core.js';
import type { Benchmark } from './types.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RUNNER_FILES = new Set(['run.ts', 'core.ts', 'types.ts']);

function available(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && !RUNNER_FILES.has(f))
    .map((f) => f.slice(0, -3));
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: os.release(),
    node: process.version,
  };
}

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name || !/^[a-z0-9-]+$/.test(name)) {
    throw new BenchError('E_USAGE', `usage: npm run bench -- <name>; available: ${available().join(', ')}`);
  }
  const file = join(BENCH_DIR, `${name}.ts`);
  if (!existsSync(file)) throw new BenchError('E_NO_BENCH', `no benchmark "${name}"; available: ${available().join(', ')}`);
  const bench = (await import(pathToFileURL(file).href)).default as Benchmark;
  const runsOverride = Number(process.env.BENCH_RUNS ?? '');
  const runs = Number.isInteger(runsOverride) && runsOverride > 0 ? runsOverride : bench.runs;
  process.stderr.write(`bench ${name}: ${bench.description} (${runs} runs)\n`);
  const ctx = await bench.setup();
  const samples: Array<Record<string, number>> = [];
  try {
    for (let i = 0; i < runs; i++) {
      const s = await bench.measure(ctx, i);
      samples.push(s);
      process.stderr.write(`  run ${i + 1}/${runs}: ${JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v)])))}\n`);
    }
  } finally {
    await bench.teardown(ctx);
  }
  const medians = mediansOf(samples);
  const result: BenchResult = {
    bench: name,
    machine: machine(),
    figures: { runs, ...Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, round(v)])) },
    goals: evaluateGoals(bench.goals, medians),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
