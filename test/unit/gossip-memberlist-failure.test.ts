// The pure parts of memberlist's failure detection and of the stream/packet limits: numbers
// checked against hashicorp/memberlist's formulas (util.go suspicionTimeout, retransmitLimit;
// suspicion.go remainingSuspicionTime), worked out by hand below, not taken from its code.
import test from 'ava';
import { BroadcastQueue } from '../../netd/gossip/broadcasts.js';
import { LzwError, LzwOutputLimitError, lzwCompress, lzwDecompress } from '../../netd/gossip/lzw.js';
import { MSG, compoundMessages } from '../../netd/gossip/memberlist.js';
import { FrameReader, GossipDropError } from '../../netd/gossip/stream.js';
import { Awareness, Suspicion, remainingSuspicionMs, retransmitLimit, suspicionBounds, suspicionTimeoutMs } from '../../netd/gossip/suspicion.js';

test('suspicion timeout: SuspicionMult × interval, scaled by log10(n) past 10 nodes', (t) => {
  // [mult, nodes, interval ms, expected ms]: 4 × max(1, log10 n) with the scale kept to 1/1000.
  const table: [number, number, number, number][] = [
    [4, 1, 1000, 4000],
    [4, 5, 1000, 4000],
    [4, 10, 1000, 4000],
    [4, 50, 1000, 6792], // log10 50 = 1.69897 → 1698
    [4, 100, 1000, 8000],
    [4, 1000, 1000, 12000],
    [4, 5, 200, 800],
    [5, 20, 500, 3252], // log10 20 = 1.30103 → 1301; 5 × 1301 × 500 / 1000 = 3252.5, truncated
  ];
  for (const [mult, n, interval, want] of table) t.is(suspicionTimeoutMs(mult, n, interval), want, `mult ${mult}, ${n} nodes, ${interval} ms`);
});

test('remaining suspicion: from max down to min as confirmations arrive, minus elapsed', (t) => {
  // k = 2, min 4 s, max 24 s (SuspicionMaxTimeoutMult 6)
  t.is(remainingSuspicionMs(0, 2, 0, 4000, 24000), 24000);
  t.is(remainingSuspicionMs(1, 2, 0, 4000, 24000), 11381); // 24 − ln2/ln3 × 20 = 11.3814 s
  t.is(remainingSuspicionMs(2, 2, 0, 4000, 24000), 4000);
  t.is(remainingSuspicionMs(1, 2, 1000, 4000, 24000), 10381);
  t.is(remainingSuspicionMs(2, 2, 5000, 4000, 24000), -1000, 'past due: fire now');
  t.is(remainingSuspicionMs(3, 2, 0, 4000, 24000), 4000, 'never under min');
});

test('suspicion bounds: k = SuspicionMult − 2 confirmations, none in clusters too small to give them', (t) => {
  const cfg = { suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1000 };
  t.deepEqual(suspicionBounds(cfg, 3), { minMs: 4000, maxMs: 24000, expected: 0 });
  t.deepEqual(suspicionBounds(cfg, 4), { minMs: 4000, maxMs: 24000, expected: 2 });
  t.deepEqual(suspicionBounds(cfg, 100), { minMs: 8000, maxMs: 48000, expected: 2 });
});

test('retransmit limit: RetransmitMult × ceil(log10(n+1))', (t) => {
  const table: [number, number][] = [
    [1, 4],
    [2, 4],
    [9, 4],
    [10, 8],
    [99, 8],
    [100, 12],
  ];
  for (const [n, want] of table) t.is(retransmitLimit(4, n), want, `${n} nodes`);
});

test('a suspicion fires at max alone, at min with every expected confirmation, once', async (t) => {
  const fired: number[] = [];
  const start = Date.now();
  const s = new Suspicion('a', 2, 60, 2000, (n) => fired.push(n));
  t.false(s.confirm('a'), 'the accuser does not confirm itself');
  t.true(s.confirm('b'));
  t.false(s.confirm('b'), 'one confirmation per member');
  t.true(s.confirm('c'));
  t.false(s.confirm('d'), 'no more than k');
  await new Promise((r) => setTimeout(r, 150));
  t.deepEqual(fired, [2]);
  t.true(Date.now() - start < 1000);
  const lone = new Suspicion('a', 0, 30, 5000, (n) => fired.push(n));
  await new Promise((r) => setTimeout(r, 80));
  t.deepEqual(fired, [2, 0], 'k = 0 starts at min');
  const cancelled = new Suspicion('a', 0, 20, 20, () => fired.push(9));
  cancelled.cancel();
  lone.cancel();
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(fired, [2, 0]);
});

test('awareness: the score stays within 0 … max − 1 and scales a timeout by score + 1', (t) => {
  const a = new Awareness(8);
  t.is(a.score, 0);
  t.is(a.scale(200), 200);
  a.applyDelta(-1);
  t.is(a.score, 0, 'never below healthy');
  a.applyDelta(3);
  t.is(a.score, 3);
  t.is(a.scale(200), 800);
  a.applyDelta(3);
  a.applyDelta(3);
  t.is(a.score, 7, 'capped at max − 1');
  t.is(a.scale(1000), 8000);
  for (let i = 0; i < 7; i++) a.applyDelta(-1);
  t.is(a.score, 0);
  const one = new Awareness(1);
  one.applyDelta(5);
  t.is(one.score, 0, 'a max of 1 turns it off');
});

test('broadcast queue: newest and least-sent first, a node’s newer message replaces the older, dropped after the limit', (t) => {
  const q = new BroadcastQueue(1, () => 5); // limit 1 × ceil(log10 6) = 1
  q.queue('n1', Buffer.from('suspect n1'));
  q.queue('n2', Buffer.from('alive n2'));
  q.queue('n1', Buffer.from('alive n1 inc 2'));
  t.is(q.length, 2);
  t.deepEqual(
    q.take(2, 1000).map(String),
    ['alive n1 inc 2', 'alive n2'],
  );
  t.is(q.length, 0, 'sent RetransmitMult × ceil(log10(n+1)) times, then gone');

  const q4 = new BroadcastQueue(4, () => 3); // limit 4
  q4.queue('a', Buffer.alloc(600));
  q4.queue('b', Buffer.alloc(600));
  t.is(q4.take(2, 700).length, 1, 'what does not fit waits');
  t.is(q4.take(2, 700)[0]!.length, 600);
  for (let i = 0; i < 10; i++) q4.take(2, 1400);
  t.is(q4.length, 0);
});

test('compound messages: [7][n][u16 lengths][parts], split at 255 parts', (t) => {
  const [c] = compoundMessages([Buffer.from([MSG.ping, 1]), Buffer.from([MSG.ack, 2, 3])]);
  t.deepEqual([...c!], [7, 2, 0, 2, 0, 3, 0, 1, 2, 2, 3]);
  const many = compoundMessages(Array.from({ length: 300 }, () => Buffer.from([MSG.user])));
  t.deepEqual(
    many.map((m) => m[1]),
    [255, 45],
  );
});

test('frame reader: caps the declared size, wants encryption, assembles a trickled frame into one buffer', (t) => {
  const head = (type: number, len: number) => {
    const h = Buffer.alloc(5);
    h[0] = type;
    h.writeUInt32BE(len, 1);
    return h;
  };
  const drop = (f: () => unknown) => t.throws(f, { instanceOf: GossipDropError })!;
  t.is((drop(() => new FrameReader(1024).push(head(10, 1025))) as GossipDropError).reason, 'oversize');
  t.is((drop(() => new FrameReader(1024).push(head(6, 10))) as GossipDropError).reason, 'decrypt');
  t.is((drop(() => new FrameReader(1024).push(head(10, 5))) as GossipDropError).reason, 'malformed');

  const r = new FrameReader(1024);
  const frame = Buffer.concat([head(10, 40), Buffer.alloc(40, 7), Buffer.from('trailing')]);
  let out: ReturnType<FrameReader['push']>;
  for (let i = 0; i < frame.length && !out; i++) out = r.push(frame.subarray(i, i + 1));
  t.truthy(out);
  t.is(out!.body.length, 40);
  t.true(out!.body.every((b) => b === 7));
  t.deepEqual([...out!.header], [10, 0, 0, 0, 40]);
});

test('lzw: the output cap stops decoding with LzwOutputLimitError (an LzwError)', (t) => {
  const z = lzwCompress(Buffer.alloc(1 << 20));
  t.is(lzwDecompress(z, 1 << 20).length, 1 << 20);
  const err = t.throws(() => lzwDecompress(z, 64 * 1024), { instanceOf: LzwOutputLimitError });
  t.true(err instanceof LzwError);
  t.is(err!.maxOutputBytes, 64 * 1024);
});
