import test from 'ava';
import { StdcopyDemuxer, engineTail, parseTimestamp, selectorMatches, splitLines, splitLogLine } from '../../agent/exec/docker/logs.js';
import { chunkMessages } from '../../agent/logs/log-broker.js';

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

test('demultiplexes frames split at any byte', (t) => {
  const all = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, '')]);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new StdcopyDemuxer();
    const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    t.deepEqual(frames.map((f) => [f.stream, f.payload.toString()]), [[1, 'out one\n'], [2, 'err\n'], [1, '']]);
  }
});

test('parses the engine timestamps to seconds and nanoseconds', (t) => {
  t.deepEqual(parseTimestamp('2024-03-01T10:20:30.123456789Z hello')?.ts, { seconds: String(Date.UTC(2024, 2, 1, 10, 20, 30) / 1000), nanos: 123456789 });
  t.deepEqual(parseTimestamp('2024-03-01T10:20:30.5Z x')?.ts.nanos, 500000000);
  t.deepEqual(parseTimestamp('2024-03-01T10:20:30Z x')?.ts.nanos, 0);
  t.deepEqual(parseTimestamp('2024-03-01T12:20:30.000000001+02:00 x')?.ts, { seconds: String(Date.UTC(2024, 2, 1, 10, 20, 30) / 1000), nanos: 1 });
  t.is(parseTimestamp('no timestamp here'), undefined);
});

test('a log line keeps its bytes and newline; the timestamp prefix is removed', (t) => {
  const { timestamp, data } = splitLogLine(Buffer.from('2024-03-01T10:20:30.000000002Z héllo world\n'), () => ({ seconds: '0', nanos: 0 }));
  t.is(timestamp.nanos, 2);
  t.is(data.toString('utf8'), 'héllo world\n');
  t.deepEqual(splitLogLine(Buffer.from('raw\n'), () => ({ seconds: '7', nanos: 0 })).timestamp, { seconds: '7', nanos: 0 });
});

test('splits lines keeping newlines and the partial rest', (t) => {
  const { lines, rest } = splitLines(Buffer.from('a\nbb\nccc'));
  t.deepEqual(lines.map(String), ['a\n', 'bb\n']);
  t.is(String(rest), 'ccc');
});

test("SwarmKit's tail becomes the engine's", (t) => {
  t.is(engineTail('0'), 'all');
  t.is(engineTail('-1'), '0');
  t.is(engineTail('-11'), '10');
  t.is(engineTail('5'), undefined);
});

test('a selector matches on any of task, service or node id', (t) => {
  const labels = { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 's1', 'com.docker.swarm.node.id': 'n1' };
  const sel = (p: Partial<{ task_ids: string[]; service_ids: string[]; node_ids: string[] }>) => ({ task_ids: [], service_ids: [], node_ids: [], ...p });
  t.true(selectorMatches(sel({ task_ids: ['t1'] }), labels));
  t.true(selectorMatches(sel({ service_ids: ['x', 's1'] }), labels));
  t.true(selectorMatches(sel({ node_ids: ['n1'] }), labels));
  t.false(selectorMatches(sel({ service_ids: ['s2'], task_ids: ['t2'] }), labels));
  t.false(selectorMatches(sel({}), labels));
  t.false(selectorMatches(sel({ task_ids: [''] }), {}));
});

test('publish batches are cut by bytes and count', (t) => {
  const m = (n: number) => ({ data: Buffer.alloc(n) });
  t.deepEqual(chunkMessages([m(100), m(100), m(100)], 500, 10).map((c) => c.length), [2, 1]);
  t.deepEqual(chunkMessages([m(1), m(1), m(1)], 1e6, 2).map((c) => c.length), [2, 1]);
  t.deepEqual(chunkMessages([m(5000)], 100, 10).map((c) => c.length), [1], 'one oversized message still goes alone');
  t.deepEqual(chunkMessages([]), []);
});
