// The agent's start-up orphan cleanup against the real task store: after an open that may have
// lost stored tasks it removes nothing, because their containers would look orphaned.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupOrphans } from '../../agent/agent.js';
import type { LogFn } from '../../agent/log.js';
import { encodeFrame } from '../../agent/store/framing.js';
import { TaskStore } from '../../agent/store/index.js';
import { LOG_FILE } from '../../agent/store/task-store.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-orphans-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A store holding tasks a and b, whose log then gets `tail` appended. */
function storeWithTail(t: ExecutionContext, tail: Buffer): TaskStore {
  const dir = tempDir(t);
  const s = TaskStore.open(dir, { fsync: false });
  s.putTask('a', {});
  s.putTask('b', {});
  s.close();
  const logPath = join(dir, LOG_FILE);
  writeFileSync(logPath, Buffer.concat([readFileSync(logPath), tail]));
  const reopened = TaskStore.open(dir, { fsync: false });
  t.teardown(() => reopened.close());
  return reopened;
}

function fakes() {
  const calls: Array<{ keep: string[]; nodeId: string }> = [];
  const logs: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> = [];
  const executor = {
    cleanupOrphans: (keep: ReadonlySet<string>, nodeId: string) => {
      calls.push({ keep: [...keep].sort(), nodeId });
      return Promise.resolve({ containers: ['c-orphan'], taskDirs: [] });
    },
  };
  const log: LogFn = (level, msg, fields) => void logs.push({ level, msg, fields });
  return { calls, logs, executor, log };
}

const taskC = encodeFrame(Buffer.from(JSON.stringify({ seq: 3, op: 'task', id: 'c', task: {} })));

test('after a lossy open (a whole record cut off) no orphan is removed, and the log says why', async (t) => {
  const damaged = Buffer.from(taskC);
  damaged[damaged.length - 2]! ^= 0x01;
  const store = storeWithTail(t, damaged);
  t.true(store.stats().lossy);
  const f = fakes();
  await cleanupOrphans(store, f.executor, 'node-1', f.log);
  t.deepEqual(f.calls, []);
  const warn = f.logs.find((l) => l.level === 'warn');
  t.truthy(warn, JSON.stringify(f.logs));
  t.regex(warn!.msg, /not removing/);
  t.regex(String(warn!.fields?.reason), /tasks\.log/);
});

test('after a torn tail (an append that never finished) orphans are removed as usual', async (t) => {
  const store = storeWithTail(t, taskC.subarray(0, taskC.length - 4));
  t.is(store.stats().tornTails, 1);
  t.false(store.stats().lossy);
  const f = fakes();
  await cleanupOrphans(store, f.executor, 'node-1', f.log);
  t.deepEqual(f.calls, [{ keep: ['a', 'b'], nodeId: 'node-1' }]);
  t.true(f.logs.some((l) => l.level === 'info' && /removed resources/.test(l.msg)));
});

test('a failing executor cleanup is logged, not thrown', async (t) => {
  const store = storeWithTail(t, Buffer.alloc(0));
  const f = fakes();
  const executor = { cleanupOrphans: () => Promise.reject(new Error('docker is down')) };
  await cleanupOrphans(store, executor, 'node-1', f.log);
  t.true(f.logs.some((l) => l.level === 'warn' && l.fields?.err === 'docker is down'));
});
