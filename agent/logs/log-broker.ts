// The worker side of SwarmKit's LogBroker: listen for log subscriptions from the manager and
// answer each with one PublishLogs stream fed by the executor's task logs, closed with
// `close: true` when the logs so far are out (or, when following, when the manager closes the
// subscription). This is what makes `docker service logs` show berth tasks.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { LogBrokerClient } from '../proto/gen/docker/swarmkit/v1/LogBroker.js';
import type { LogMessageIn, SubscriptionMessage } from '../proto/api.js';
import { swarmApi } from '../proto/index.js';
import { MANAGER_SERVER_NAME, channelOptions, grpcCodeName, isGrpcError, pinnedTls } from '../grpc-util.js';
import type { LogSource, LogSubscription } from '../exec/executor.js';
import type { LogFn } from '../../base/index.js';

const LISTEN_BACKOFF_INITIAL_MS = 200;
const LISTEN_BACKOFF_MAX_MS = 10_000;
/** A ListenSubscriptions stream that lived this long counts as healthy: backoff starts afresh. */
const LISTEN_HEALTHY_AFTER_MS = 30_000;
/** Keep each PublishLogs message well under the manager's 4 MiB receive limit. */
const MAX_PUBLISH_BYTES = 512 * 1024;
const MAX_PUBLISH_MESSAGES = 1_000;

export interface NodeCredentials {
  rootCaPem: string;
  keyPem: string;
  certPem: string;
}

/** A LogBroker client on its own channel, with the node's mTLS identity (as the dispatcher's). */
function createLogBrokerClient(manager: string, creds: NodeCredentials): LogBrokerClient {
  const api = swarmApi();
  return new api.LogBroker(manager, pinnedTls(creds.rootCaPem, { keyPem: creds.keyPem, certPem: creds.certPem }), {
    ...channelOptions(MANAGER_SERVER_NAME),
    'grpc.use_local_subchannel_pool': 1,
  }) as unknown as LogBrokerClient;
}

export interface LogBrokerOptions {
  client: LogBrokerClient;
  /** The manager accepts log messages only for the node id in our certificate. */
  nodeId: string;
  source: LogSource;
  log: LogFn;
  backoff?: { initialMs: number; maxMs: number };
}

export interface LogBrokerStats {
  subscriptions: number;
  active: number;
  messages: number;
  listens: number;
  lastError: string | undefined;
}

/** grpc-js reports a client-streaming call the server ended with OK but no message as
 *  UNIMPLEMENTED "No message received": SwarmKit's manager does that after `close: true`. */
function isCleanFinish(err: grpc.ServiceError | null): boolean {
  return err === null || (err.code === grpc.status.UNIMPLEMENTED && /No message received/i.test(err.details ?? ''));
}

function toSubscription(m: SubscriptionMessage): LogSubscription {
  return {
    id: m.id,
    selector: { service_ids: m.selector?.service_ids ?? [], node_ids: m.selector?.node_ids ?? [], task_ids: m.selector?.task_ids ?? [] },
    options: m.options
      ? { streams: (m.options.streams ?? []).map((s) => Number(s)), follow: m.options.follow, tail: String(m.options.tail ?? '0'), since: m.options.since ? { seconds: String(m.options.since.seconds), nanos: m.options.since.nanos } : null }
      : null,
  };
}

/** Splits a batch so that no PublishLogs message grows past the limits. */
export function chunkMessages(messages: LogMessageIn[], maxBytes = MAX_PUBLISH_BYTES, maxCount = MAX_PUBLISH_MESSAGES): LogMessageIn[][] {
  const out: LogMessageIn[][] = [];
  let cur: LogMessageIn[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.data ? Buffer.byteLength(m.data as Buffer) : 0) + 128;
    if (cur.length > 0 && (bytes + size > maxBytes || cur.length >= maxCount)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export class LogBroker {
  private readonly active = new Map<string, AbortController>();
  readonly stats: LogBrokerStats = { subscriptions: 0, active: 0, messages: 0, listens: 0, lastError: undefined };

  constructor(private readonly opts: LogBrokerOptions) {}

  /** Keeps a ListenSubscriptions stream open (reconnecting with backoff) until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: LISTEN_BACKOFF_INITIAL_MS, maxMs: LISTEN_BACKOFF_MAX_MS };
    let delay = initialMs;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.listen(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.stats.lastError = (err as Error).message;
        this.opts.log('warn', 'log subscriptions stream failed; reconnecting', { err: this.stats.lastError });
      }
      if (signal.aborted) break;
      if (Date.now() - started > LISTEN_HEALTHY_AFTER_MS) delay = initialMs;
      const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
      delay = Math.min(delay * 2, maxMs);
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
    this.cancelAll();
  }

  private cancelAll(): void {
    for (const ac of this.active.values()) ac.abort();
    this.active.clear();
    this.stats.active = 0;
  }

  /** One ListenSubscriptions stream; resolves when the manager ends it, rejects on error. */
  private listen(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.stats.listens++;
      const call = this.opts.client.ListenSubscriptions({});
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (err?: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // The manager forgets a node's subscriptions with the stream; so do we.
        this.cancelAll();
        if (err) reject(err);
        else resolve();
      };
      call.on('data', (m: SubscriptionMessage) => this.onSubscription(m, signal));
      call.on('error', (err: unknown) => {
        if (signal.aborted) return finish();
        finish(isGrpcError(err) ? new Error(`ListenSubscriptions: ${grpcCodeName(err.code)}: ${err.details}`) : err);
      });
      call.on('end', () => finish());
    });
  }

  private onSubscription(m: SubscriptionMessage, signal: AbortSignal): void {
    if (m.close) {
      this.active.get(m.id)?.abort();
      return;
    }
    if (this.active.has(m.id)) return;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.active.set(m.id, ac);
    this.stats.subscriptions++;
    this.stats.active = this.active.size;
    const sub = toSubscription(m);
    this.opts.log('debug', 'log subscription', { subscription: sub.id, follow: sub.options?.follow ?? false, selector: sub.selector });
    this.publish(sub, ac.signal)
      .catch((err: unknown) => this.opts.log('warn', 'publishing logs failed', { subscription: sub.id, err: (err as Error).message }))
      .finally(() => {
        signal.removeEventListener('abort', onAbort);
        if (this.active.get(sub.id) === ac) this.active.delete(sub.id);
        this.stats.active = this.active.size;
      });
  }

  private async publish(sub: LogSubscription, signal: AbortSignal): Promise<void> {
    let failed: grpc.ServiceError | null | undefined;
    let settle!: (err: grpc.ServiceError | null) => void;
    const finished = new Promise<grpc.ServiceError | null>((r) => (settle = r));
    const stream = this.opts.client.PublishLogs((err) => {
      failed = err;
      settle(err);
    });
    // The manager refused the stream (unknown subscription...): stop reading logs for it.
    const sourceAbort = new AbortController();
    const onAbort = () => sourceAbort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    void finished.then(() => sourceAbort.abort());
    const write = async (msg: object) => {
      if (failed !== undefined) return;
      if (!stream.write(msg)) await new Promise<void>((r) => stream.once('drain', r));
    };
    let foreign = 0;
    try {
      for await (const batch of this.opts.source.subscribeLogs(sub, sourceAbort.signal)) {
        const mine = batch.filter((m) => m.context?.node_id === this.opts.nodeId);
        foreign += batch.length - mine.length;
        for (const chunk of chunkMessages(mine)) {
          await write({ subscription_id: sub.id, messages: chunk });
          this.stats.messages += chunk.length;
        }
        if (failed !== undefined) break;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (foreign > 0) this.opts.log('debug', 'dropped log lines of tasks of another node id', { subscription: sub.id, lines: foreign });
      if (failed === undefined) {
        stream.write({ subscription_id: sub.id, close: true });
        stream.end();
      }
    }
    const err = await finished;
    if (err === null || isCleanFinish(err) || signal.aborted) return;
    if (err.code === grpc.status.NOT_FOUND || err.code === grpc.status.CANCELLED) return;
    throw new Error(`PublishLogs: ${grpcCodeName(err.code)}: ${err.details}`);
  }
}

export interface RunLogBrokerOptions extends Omit<LogBrokerOptions, 'client'> {
  manager: string;
  credentials: NodeCredentials;
}

/** Makes a client for `manager`, runs a LogBroker on it until `signal` aborts, closes the client. */
export async function runLogBroker(opts: RunLogBrokerOptions, signal: AbortSignal): Promise<void> {
  const client = createLogBrokerClient(opts.manager, opts.credentials);
  const broker = new LogBroker({ ...opts, client });
  try {
    await broker.run(signal);
  } finally {
    client.close();
  }
}
