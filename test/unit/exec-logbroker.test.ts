// The LogBroker worker against a real grpc server on 127.0.0.1:0 speaking berth's protos.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { swarmApi } from '../../agent/proto/index.js';
import type { LogBrokerClient } from '../../agent/proto/gen/docker/swarmkit/v1/LogBroker.js';
import type { PublishLogsMessage__Output } from '../../agent/proto/gen/docker/swarmkit/v1/PublishLogsMessage.js';
import type { LogMessageIn } from '../../agent/proto/api.js';
import { LogBroker } from '../../agent/logs/log-broker.js';
import type { LogSource, LogSubscription } from '../../agent/exec/executor.js';

type Publish = { subscription: string; messages: string[]; closed: boolean; nodes: string[] };

interface FakeManager {
  client: LogBrokerClient;
  listens: Array<grpc.ServerWritableStream<unknown, unknown>>;
  publishes: Publish[];
  waitPublish(n: number): Promise<void>;
  waitListens(n: number): Promise<void>;
  stop(): Promise<void>;
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function fakeManager(): Promise<FakeManager> {
  const api = swarmApi();
  const server = new grpc.Server();
  const listens: FakeManager['listens'] = [];
  const publishes: Publish[] = [];
  server.addService((api.LogBroker as unknown as { service: grpc.ServiceDefinition }).service, {
    ListenSubscriptions: (call: grpc.ServerWritableStream<unknown, unknown>) => listens.push(call),
    PublishLogs: (call: grpc.ServerReadableStream<PublishLogsMessage__Output, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const p: Publish = { subscription: '', messages: [], closed: false, nodes: [] };
      publishes.push(p);
      call.on('data', (m: PublishLogsMessage__Output) => {
        p.subscription = m.subscription_id;
        for (const msg of m.messages) {
          p.messages.push(Buffer.from(msg.data).toString());
          p.nodes.push(msg.context?.node_id ?? '');
        }
        if (m.close) p.closed = true;
      });
      call.on('end', () => cb(null, {}));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new api.LogBroker(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as LogBrokerClient;
  return {
    client,
    listens,
    publishes,
    waitPublish: (n) => until(() => publishes.filter((p) => p.closed).length >= n),
    waitListens: (n) => until(() => listens.length >= n),
    stop: async () => {
      client.close();
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      server.forceShutdown();
    },
  };
}

function message(node: string, text: string): LogMessageIn {
  return { context: { node_id: node, service_id: 's', task_id: 't' }, timestamp: { seconds: '1', nanos: 0 }, stream: 1, data: Buffer.from(text) };
}

/** Finite for non-follow subscriptions, endless (until aborted) for follow. */
function fakeSource(seen: LogSubscription[]): LogSource {
  return {
    async *subscribeLogs(sub, signal) {
      seen.push(sub);
      yield [message('me', 'one\n'), message('other', 'foreign\n')];
      yield [message('me', 'two\n')];
      if (sub.options?.follow) {
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      }
    },
  };
}

const quiet = () => undefined;

test('a subscription is answered on one PublishLogs stream, own node only, then closed', async (t) => {
  const m = await fakeManager();
  t.teardown(() => m.stop());
  const seen: LogSubscription[] = [];
  const broker = new LogBroker({ client: m.client, nodeId: 'me', source: fakeSource(seen), log: quiet });
  const ac = new AbortController();
  const running = broker.run(ac.signal);
  await m.waitListens(1);
  m.listens[0]!.write({ id: 'sub1', selector: { service_ids: ['s'], node_ids: [], task_ids: [] }, options: { streams: [1], follow: false, tail: '-11', since: null }, close: false });
  await m.waitPublish(1);
  t.deepEqual(m.publishes[0], { subscription: 'sub1', messages: ['one\n', 'two\n'], closed: true, nodes: ['me', 'me'] });
  t.deepEqual(seen[0], { id: 'sub1', selector: { service_ids: ['s'], node_ids: [], task_ids: [] }, options: { streams: [1], follow: false, tail: '-11', since: null } });
  ac.abort();
  await running;
  t.is(broker.stats.messages, 2);
});

test('a follow subscription runs until the manager closes it', async (t) => {
  const m = await fakeManager();
  t.teardown(() => m.stop());
  const broker = new LogBroker({ client: m.client, nodeId: 'me', source: fakeSource([]), log: quiet });
  const ac = new AbortController();
  const running = broker.run(ac.signal);
  await m.waitListens(1);
  m.listens[0]!.write({ id: 'f1', selector: { service_ids: ['s'] }, options: { follow: true }, close: false });
  await until(() => (m.publishes[0]?.messages.length ?? 0) === 2);
  t.false(m.publishes[0]!.closed);
  t.is(broker.stats.active, 1);
  m.listens[0]!.write({ id: 'f1', close: true });
  await m.waitPublish(1);
  await until(() => broker.stats.active === 0);
  ac.abort();
  await running;
  t.pass();
});

test('a broken subscriptions stream is reopened; open subscriptions are closed with it', async (t) => {
  const m = await fakeManager();
  t.teardown(() => m.stop());
  const broker = new LogBroker({ client: m.client, nodeId: 'me', source: fakeSource([]), log: quiet, backoff: { initialMs: 10, maxMs: 20 } });
  const ac = new AbortController();
  const running = broker.run(ac.signal);
  await m.waitListens(1);
  m.listens[0]!.write({ id: 'f1', selector: { node_ids: ['me'] }, options: { follow: true }, close: false });
  await until(() => broker.stats.active === 1);
  m.listens[0]!.end(); // the manager ends the stream (a leader change, say)
  await m.waitListens(2);
  await until(() => broker.stats.active === 0);
  t.true(broker.stats.listens >= 2);
  ac.abort();
  await running;
});
