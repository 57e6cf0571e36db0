// StatusReporter: a status goes to the manager only once the store says it is on disk, and is
// marked reported only once the manager accepted it. The store and sender here are fakes
// (named so): the test must hold the disk sync and the manager's answer back at will.
import test from 'ava';
import { StatusReporter, type ReporterStore, type StatusSender } from '../../agent/session/reporter.js';
import type { StatusUpdate } from '../../agent/session/session.js';
import type { StoredStatus } from '../../agent/store/index.js';

class FakeStore implements ReporterStore {
  readonly pending = new Map<string, { seq: number; status: StoredStatus }>();
  readonly reported: Array<[string, number]> = [];
  private release: Array<() => void> = [];
  durableCalls = 0;
  unreported() {
    return [...this.pending].map(([id, v]) => ({ id, ...v }));
  }
  markReported(id: string, seq: number): void {
    this.reported.push([id, seq]);
    if (this.pending.get(id)?.seq === seq) this.pending.delete(id);
  }
  durable(): Promise<void> {
    this.durableCalls++;
    return new Promise((r) => this.release.push(r));
  }
  syncDone(): void {
    for (const r of this.release.splice(0)) r();
  }
}

class FakeSender implements StatusSender {
  closed = false;
  readonly sent: StatusUpdate[][] = [];
  fail = false;
  async sendStatuses(updates: readonly StatusUpdate[]): Promise<void> {
    this.sent.push([...updates]);
    if (this.fail) throw new Error('UNAVAILABLE');
  }
}

const status = (state: StoredStatus['state']): StoredStatus => ({ state, message: 'm', timestamp: '2026-11-22T00:00:00.000Z' });
const tick = () => new Promise((r) => setTimeout(r, 5));

test('nothing is sent before the store has synced; after that, the newest status per task', async (t) => {
  const store = new FakeStore();
  const sender = new FakeSender();
  const r = new StatusReporter(store, () => undefined);
  r.setSender(sender);
  store.pending.set('a', { seq: 3, status: status(512) });
  const flushing = r.flush();
  await tick();
  t.is(store.durableCalls, 1);
  t.deepEqual(sender.sent, [], 'held until the disk has it');
  t.deepEqual(store.reported, []);
  store.syncDone();
  await flushing;
  t.is(sender.sent.length, 1);
  t.is(sender.sent[0]![0]!.taskId, 'a');
  t.deepEqual(store.reported, [['a', 3]], 'marked only after the manager accepted');
});

test('a refused report is not marked reported and is sent again later', async (t) => {
  const store = new FakeStore();
  const sender = new FakeSender();
  sender.fail = true;
  const r = new StatusReporter(store, () => undefined);
  r.setSender(sender);
  store.pending.set('b', { seq: 1, status: status(256) });
  const flushing = r.flush();
  await tick();
  store.syncDone();
  await flushing;
  t.is(sender.sent.length, 1);
  t.deepEqual(store.reported, [], 'the manager did not take it');
  sender.fail = false;
  const again = r.flush();
  await tick();
  store.syncDone();
  await again;
  t.deepEqual(store.reported, [['b', 1]]);
});
