// The periodic reconcile driver: waits for desired state before its first run, repeats at the
// interval, logs at info only when something was fixed, and reports partial failures with what
// it did fix. Driven by a fake data plane; the kernel side is test/integration/netd-reconcile.
import test from 'ava';
import { ReconcileError } from '../../netd/index.js';
import { Reconciler, fixedCounts } from '../../netd/controller/reconciler.js';
import { emptyReport } from '../../netd/overlay/context.js';
import type { ReconcileReport } from '../../netd/types.js';
import type { LogFn } from '../../base/index.js';

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function recorder(): { log: LogFn; lines: Line[] } {
  const lines: Line[] = [];
  return { lines, log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
}

/** Answers reconcile() from a script of results, then with clean reports. */
function fakePlane(script: Array<Partial<ReconcileReport> | Error>): { reconcile: () => Promise<ReconcileReport>; calls: number } {
  const plane = {
    calls: 0,
    reconcile: async () => {
      const next = script[plane.calls++];
      if (next instanceof Error) throw next;
      return { ...emptyReport(), ...next };
    },
  };
  return plane;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('fixedCounts keeps only the kinds that changed', (t) => {
  t.deepEqual(fixedCounts({ ...emptyReport(), fdbAdded: 2, linksRepaired: 1 }), { linksRepaired: 1, fdbAdded: 2 });
  t.deepEqual(fixedCounts(emptyReport()), {});
});

test('the first run waits for desired state; then runs repeat at the interval', async (t) => {
  const plane = fakePlane([]);
  const { log } = recorder();
  let release!: () => void;
  const ready = new Promise<void>((r) => (release = r));
  const r = new Reconciler(plane, { intervalMs: 20, ready, log });
  r.start();
  await new Promise((res) => setTimeout(res, 60));
  t.is(plane.calls, 0, 'nothing before desired state is back');
  release();
  await until('three runs', () => r.runs >= 3);
  await r.stop();
  const after = plane.calls;
  await new Promise((res) => setTimeout(res, 60));
  t.is(plane.calls, after, 'no run after stop');
  t.is(r.last?.trigger, 'periodic');
});

test('info only when something was fixed, with the count per kind; debug otherwise', async (t) => {
  const plane = fakePlane([{ fdbAdded: 1, neighboursAdded: 1, linksRepaired: 2 }, {}]);
  const { log, lines } = recorder();
  const r = new Reconciler(plane, { intervalMs: 10, log });
  r.start();
  await until('two runs', () => r.runs >= 2);
  await r.stop();
  const [first, second] = lines;
  t.like(first, { level: 'info', msg: 'data plane drift repaired', fields: { trigger: 'start', fdbAdded: 1, neighboursAdded: 1, linksRepaired: 2 } });
  t.false('fdbRemoved' in first!.fields, 'zero counts are left out');
  t.like(second, { level: 'debug', msg: 'data plane reconciled: no drift', fields: { trigger: 'periodic' } });
  t.false(lines.some((l, i) => i > 0 && l.level === 'info'));
});

test('a failed run is logged with what it did fix, and the next run still comes', async (t) => {
  const partial = new ReconcileError({ ...emptyReport(), sandboxesRepaired: 1 }, ['create veth bv1 <-> eth0: EBUSY', 'set br0 up: EPERM']);
  const plane = fakePlane([partial, new Error('netlink socket is closed')]);
  const { log, lines } = recorder();
  const r = new Reconciler(plane, { intervalMs: 10, log });
  r.start();
  await until('three runs', () => r.runs >= 3);
  await r.stop();
  t.like(lines[0], { level: 'warn', msg: 'data plane reconcile failed', fields: { trigger: 'start', code: 'E_RECONCILE', sandboxesRepaired: 1 } });
  t.regex(String(lines[0]!.fields.err), /2 object\(s\) unrepaired: create veth bv1 <-> eth0: EBUSY \(and 1 more\)/);
  t.like(lines[1], { level: 'warn', fields: { err: 'netlink socket is closed' } });
  t.is(lines[2]!.level, 'debug');
});

test('interval 0: one run after start, none after', async (t) => {
  const plane = fakePlane([]);
  const r = new Reconciler(plane, { intervalMs: 0, log: () => undefined });
  r.start();
  await until('one run', () => r.runs === 1);
  await new Promise((res) => setTimeout(res, 50));
  t.is(plane.calls, 1);
  await r.stop();
});

test('a bad interval is refused', (t) => {
  t.throws(() => new Reconciler(fakePlane([]), { intervalMs: -1, log: () => undefined }), { code: 'E_INVALID_OPTION' } as never);
  t.throws(() => new Reconciler(fakePlane([]), { intervalMs: 1.5, log: () => undefined }), { code: 'E_INVALID_OPTION' } as never);
});
