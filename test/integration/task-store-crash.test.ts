// kill -9 a process writing to the task store at 50 random moments (including during
// compaction), each time continuing the same directory, and check after every kill that the
// store loads and holds every write the child had finished.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskStore } from '../../agent/store/index.js';
import { TaskState } from '../../agent/worker/task-state.js';

const RUNS = 50;
const KILL_AFTER_MS: readonly [number, number] = [5, 200];
const WRITER = 'test/fixtures/store-writer.ts';

interface RunOutput {
  lines: string[];
  stderr: string;
  /** ms between the child's "start" line and the kill; undefined when it exited by itself. */
  killedAfterMs: number | undefined;
}

/** Runs the writer and SIGKILLs it `delayMs` after it prints "start" (just before opening). */
function runWriter(dir: string, run: number, delayMs: number): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(run)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let startedAt: number | undefined;
    let killedAfterMs: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (startedAt === undefined && out.startsWith('start\n')) {
        startedAt = performance.now();
        timer = setTimeout(() => {
          killedAfterMs = performance.now() - startedAt!;
          child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (signal !== 'SIGKILL' && code !== 0) {
        reject(new Error(`store-writer run ${run} exited with ${code ?? signal}:\n${stderr}`));
        return;
      }
      // Only whole lines count: a line is written after its call returned.
      const lines = out.split('\n');
      lines.pop();
      resolve({ lines, stderr, killedAfterMs });
    });
  });
}

interface Seen {
  state: number;
  statusSeq: number;
  reportedSeq: number;
}

test(`the store survives kill -9 at ${RUNS} random moments and keeps every finished write`, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-store-crash-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'store');

  // What the children printed as done, over all runs.
  const printedStatus = new Map<string, { seq: number; state: number }>();
  const printedAck = new Map<string, number>();
  const printedTask = new Set<string>();
  const removed = new Set<string>();
  // What the parent saw after the previous kill.
  let seen = new Map<string, Seen>();
  const totals = { statuses: 0, ops: 0, tornTails: 0, killsInCompaction: 0, killsAfterSnapshotRename: 0, opensSkippingStaleRecords: 0, beforeOpen: 0 };
  const started = Date.now();

  for (let run = 0; run < RUNS; run++) {
    const delay = KILL_AFTER_MS[0] + Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]);
    const { lines, killedAfterMs } = await runWriter(dir, run, delay);
    const ctx = `run ${run} (killed ${killedAfterMs?.toFixed(0) ?? 'never'} ms after start)`;
    t.true(killedAfterMs !== undefined, `${ctx}: the writer finished before the kill`);

    let compactPhase: string | undefined;
    for (const line of lines) {
      const f = line.split(' ');
      if (f[0] === '#') {
        compactPhase = f[2] === 'end' ? undefined : f[2];
        continue;
      }
      if (f.length === 1 || f[0] === 'ready') continue;
      totals.ops++;
      const id = f[0]!;
      if (f[1] === 'task') printedTask.add(id);
      else if (f[1] === 'removed') removed.add(id);
      else if (f[1] === 'ack') printedAck.set(id, Math.max(printedAck.get(id) ?? 0, Number(f[2])));
      else {
        const seq = Number(f[1]);
        const state = Number(f[2]);
        const prev = printedStatus.get(id);
        // The same child, call after call: seq and state never go back.
        if (prev) t.true(seq >= prev.seq && state >= prev.state, `${ctx}: ${line} after ${JSON.stringify(prev)}`);
        printedStatus.set(id, { seq, state });
        totals.statuses++;
      }
    }
    if (!lines.some((l) => l.startsWith('ready '))) totals.beforeOpen++;
    if (compactPhase !== undefined) totals.killsInCompaction++;
    if (compactPhase === 'snapshot') totals.killsAfterSnapshotRename++;

    let store: TaskStore;
    try {
      store = TaskStore.open(dir);
    } catch (err) {
      t.fail(`${ctx}: the store does not open: ${(err as Error).message}`);
      return;
    }
    try {
      const st = store.stats();
      totals.tornTails += st.tornTails;
      if (st.skippedRecords > 0) totals.opensSkippingStaleRecords++;

      const now = new Map<string, Seen>();
      for (const r of store.list()) now.set(r.id, { state: r.status?.state ?? -1, statusSeq: r.statusSeq, reportedSeq: r.reportedSeq });

      for (const id of printedTask) {
        // The writer removes only tasks whose ORPHANED status it had printed (and then acked).
        if (!removed.has(id) && !now.has(id)) {
          t.is(printedStatus.get(id)?.state, TaskState.ORPHANED, `${ctx}: task ${id} vanished (last seen ${JSON.stringify(seen.get(id))})`);
        }
      }
      for (const id of removed) t.false(now.has(id), `${ctx}: removed task ${id} is back`);
      for (const [id, p] of printedStatus) {
        const r = now.get(id);
        if (!r) {
          t.true(removed.has(id) || p.state === TaskState.ORPHANED, `${ctx}: task ${id} with status ${JSON.stringify(p)} is missing`);
          continue;
        }
        t.true(r.statusSeq >= p.seq, `${ctx}: task ${id} statusSeq ${r.statusSeq} < printed ${p.seq}`);
        t.true(r.state >= p.state, `${ctx}: task ${id} state ${r.state} < printed ${p.state}`);
        if (r.statusSeq === p.seq) t.is(r.state, p.state, `${ctx}: task ${id} seq ${p.seq} has another state`);
      }
      for (const [id, seq] of printedAck) {
        const r = now.get(id);
        if (r) t.true(r.reportedSeq >= seq, `${ctx}: task ${id} reportedSeq ${r.reportedSeq} < printed ack ${seq}`);
      }
      for (const [id, prev] of seen) {
        const r = now.get(id);
        if (!r) {
          t.is(printedStatus.get(id)?.state, TaskState.ORPHANED, `${ctx}: task ${id} disappeared, last seen ${JSON.stringify(prev)}`);
          continue;
        }
        t.true(
          r.state >= prev.state && r.statusSeq >= prev.statusSeq && r.reportedSeq >= prev.reportedSeq,
          `${ctx}: task ${id} went back from ${JSON.stringify(prev)} to ${JSON.stringify(r)}`,
        );
      }

      const unreported = store.unreported();
      const ids = new Set<string>();
      for (const u of unreported) {
        t.false(ids.has(u.id), `${ctx}: ${u.id} listed twice as unreported`);
        ids.add(u.id);
        const r = now.get(u.id);
        if (!r) {
          t.fail(`${ctx}: unreported lists unknown task ${u.id}`);
          continue;
        }
        t.is(u.seq, r.statusSeq, `${ctx}: unreported ${u.id} seq`);
        t.true(u.seq > r.reportedSeq, `${ctx}: ${u.id} seq ${u.seq} is already reported`);
        t.is<number, number>(u.status.state, r.state);
      }
      t.is(ids.size, [...now.values()].filter((r) => r.statusSeq > r.reportedSeq).length, `${ctx}: unreported misses tasks`);
      seen = now;
    } finally {
      store.close();
    }
  }

  const elapsed = Date.now() - started;
  t.log(`${RUNS} kills in ${elapsed} ms: ${JSON.stringify(totals)}; ${seen.size} tasks at the end`);
  // The point is kills during writes and compaction; make sure the runs did write.
  t.true(totals.statuses > RUNS * 5, `only ${totals.statuses} statuses written`);
});
