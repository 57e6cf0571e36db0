import test from 'ava';
import { EventChannel } from '../../base/index.js';
import { EarlyEvents } from '../../agent/early-events.js';

test('events published before a subscriber exists reach it, in order, once replayed; later ones go straight through', (t) => {
  const a = new EventChannel<{ n: number }>('berth:test:early-a');
  const b = new EventChannel<{ n: number }>('berth:test:early-b');
  const early = new EarlyEvents([a, b] as ReadonlyArray<EventChannel<object>>);
  a.publish({ n: 1 });
  b.publish({ n: 2 });
  a.publish({ n: 3 });
  const seen: string[] = [];
  const offA = a.subscribe((e) => seen.push(`a${e.n}`));
  const offB = b.subscribe((e) => seen.push(`b${e.n}`));
  early.replay();
  a.publish({ n: 4 });
  t.deepEqual(seen, ['a1', 'b2', 'a3', 'a4']);
  early.replay();
  t.is(seen.length, 4, 'a second replay publishes nothing again');
  offA();
  offB();
});

test('past the hold limit, events are dropped rather than kept without bound', (t) => {
  const a = new EventChannel<{ n: number }>('berth:test:early-limit');
  const early = new EarlyEvents([a] as ReadonlyArray<EventChannel<object>>, 2);
  for (let n = 0; n < 5; n++) a.publish({ n });
  const seen: number[] = [];
  const off = a.subscribe((e) => seen.push(e.n));
  early.replay();
  t.deepEqual(seen, [0, 1]);
  off();
});
