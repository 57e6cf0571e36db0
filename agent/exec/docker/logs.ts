// Task logs from the engine for LogBroker subscriptions: the matching task containers' output
// (stdout/stderr, with the engine's timestamps) as SwarmKit LogMessages. Following picks up
// tasks that start later. The byte-level parts (stream demultiplexing, timestamp parsing) are
// pure and exported for tests.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { LogMessageIn } from '../../proto/api.js';
import { LogStream } from '../../proto/enums.js';
import type { LogFn } from '../../../base/index.js';
import type { LogSource, LogSubscription } from '../executor.js';
import { containerEvents, isStatus, whenAborted } from './engine.js';
import { LABEL_BERTH_ROLE, LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_TASK_ID, ROLE_TASK } from './naming.js';

const STDCOPY_HEADER = 8;
/** Stop reading from the engine while this many batches wait for the publisher. */
const QUEUE_HIGH_WATER = 64;

export interface LogTimestamp {
  seconds: string;
  nanos: number;
}

/** Splits Docker's multiplexed (non-TTY) stream into frames: 8-byte header (stream, 0,0,0, size BE32), then the payload. */
export class StdcopyDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Array<{ stream: number; payload: Buffer }> {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Array<{ stream: number; payload: Buffer }> = [];
    while (this.buf.length >= STDCOPY_HEADER) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < STDCOPY_HEADER + size) break;
      frames.push({ stream: this.buf[0]!, payload: this.buf.subarray(STDCOPY_HEADER, STDCOPY_HEADER + size) });
      this.buf = this.buf.subarray(STDCOPY_HEADER + size);
    }
    return frames;
  }
}

const TS_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) /;

/** Parses RFC 3339 (nanoseconds) as the engine prints it before each line; undefined if absent. */
export function parseTimestamp(line: string): { ts: LogTimestamp; rest: number } | undefined {
  const m = TS_RE.exec(line);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return { ts: { seconds: String(Math.floor(ms / 1000)), nanos: Number((m[2] ?? '').padEnd(9, '0')) }, rest: m[0].length };
}

/**
 * One engine log message ("<timestamp> <line>\n") → timestamp and data (the newline kept, as
 * Docker's worker publishes it). A line without a timestamp keeps its bytes and gets `now`.
 */
export function splitLogLine(line: Buffer, now: () => LogTimestamp): { timestamp: LogTimestamp; data: Buffer } {
  const head = line.subarray(0, 40).toString('latin1');
  const p = parseTimestamp(head);
  if (!p) return { timestamp: now(), data: line };
  return { timestamp: p.ts, data: line.subarray(p.rest) };
}

/** Splits a buffer into lines, each keeping its '\n'; a trailing partial line is returned apart. */
export function splitLines(buf: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break;
    lines.push(buf.subarray(start, nl + 1));
    start = nl + 1;
  }
  return { lines, rest: buf.subarray(start) };
}

function nowTimestamp(): LogTimestamp {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** Docker's `tail` from SwarmKit's: 0 = all, <0 = the last (-tail-1) lines; >0 (skip from the start) has no engine equivalent. */
export function engineTail(tail: string | number | undefined): string | undefined {
  const t = Number(tail ?? 0);
  if (t === 0) return 'all';
  if (t < 0) return String(-t - 1);
  return undefined;
}

export function selectorMatches(sel: LogSubscription['selector'], labels: Record<string, string>): boolean {
  return (
    sel.task_ids.includes(labels[LABEL_TASK_ID] ?? '\0') ||
    sel.service_ids.includes(labels[LABEL_SERVICE_ID] ?? '\0') ||
    sel.node_ids.includes(labels[LABEL_NODE_ID] ?? '\0')
  );
}

/** A small async queue: producers push batches, one consumer iterates until end() or abort. */
class BatchQueue<T> {
  private items: T[] = [];
  private ended = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducers: Array<() => void> = [];

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wakeConsumer?.();
  }

  /** Resolves when the consumer has caught up (back-pressure for producers). */
  async room(): Promise<void> {
    while (!this.ended && this.items.length >= QUEUE_HIGH_WATER) await new Promise<void>((r) => this.wakeProducers.push(r));
  }

  end(): void {
    this.ended = true;
    this.wakeConsumer?.();
    for (const w of this.wakeProducers.splice(0)) w();
  }

  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const stopFollowing = whenAborted(signal, () => this.end());
    try {
      for (;;) {
        const item = this.items.shift();
        if (item !== undefined) {
          for (const w of this.wakeProducers.splice(0)) w();
          yield item;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => (this.wakeConsumer = r));
        this.wakeConsumer = undefined;
      }
    } finally {
      stopFollowing();
      this.end();
    }
  }
}

export interface DockerLogSourceOptions {
  log?: LogFn;
}

export class DockerLogSource implements LogSource {
  constructor(
    private readonly docker: Docker,
    private readonly opts: DockerLogSourceOptions = {},
  ) {}

  async *subscribeLogs(sub: LogSubscription, signal: AbortSignal): AsyncGenerator<LogMessageIn[]> {
    const follow = sub.options?.follow ?? false;
    const queue = new BatchQueue<LogMessageIn[]>();
    const started = new Set<string>();
    let running = 0;
    const inner = new AbortController();
    const stopFollowing = whenAborted(signal, () => inner.abort());
    const maybeEnd = () => {
      if (!follow && running === 0) queue.end();
    };
    const begin = (id: string) => {
      if (started.has(id)) return;
      started.add(id);
      running++;
      this.streamContainer(id, sub, inner.signal, queue)
        .catch((err: unknown) => {
          if (!inner.signal.aborted) this.opts.log?.('warn', 'reading task logs failed', { container: id.slice(0, 12), subscription: sub.id, err: (err as Error).message });
        })
        .finally(() => {
          running--;
          maybeEnd();
        });
    };
    try {
      const roleFilter = `${LABEL_BERTH_ROLE}=${ROLE_TASK}`;
      if (follow) {
        const events = await containerEvents(this.docker, { event: ['start'], label: [roleFilter] }, inner.signal);
        void (async () => {
          for await (const ev of events) {
            if (selectorMatches(sub.selector, ev.Actor.Attributes ?? {})) begin(ev.Actor.ID);
          }
        })().catch(() => undefined);
      }
      const list = await this.docker.listContainers({ all: true, filters: { label: [roleFilter] } });
      for (const c of list) {
        // A created container is picked up by its start event when following; it has no logs yet.
        if (selectorMatches(sub.selector, c.Labels ?? {}) && !(follow && c.State === 'created')) begin(c.Id);
      }
      maybeEnd();
      yield* queue.drain(inner.signal);
    } finally {
      stopFollowing();
      inner.abort();
    }
  }

  private async streamContainer(id: string, sub: LogSubscription, signal: AbortSignal, queue: BatchQueue<LogMessageIn[]>): Promise<void> {
    const opts = sub.options;
    const tail = engineTail(opts?.tail);
    if (tail === undefined) {
      this.opts.log?.('warn', 'log subscription asks to skip lines from the start, which the engine cannot do; nothing sent', { subscription: sub.id });
      return;
    }
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect({ abortSignal: signal } as object);
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw err;
    }
    const labels = info.Config.Labels ?? {};
    const context = { service_id: labels[LABEL_SERVICE_ID] ?? '', node_id: labels[LABEL_NODE_ID] ?? '', task_id: labels[LABEL_TASK_ID] ?? '' };
    const streams = opts?.streams ?? [];
    const stdout = streams.length === 0 || streams.includes(LogStream.LOG_STREAM_STDOUT);
    const stderr = streams.length === 0 || streams.includes(LogStream.LOG_STREAM_STDERR);
    const since = opts?.since ? `${opts.since.seconds}.${String(opts.since.nanos).padStart(9, '0')}` : undefined;
    const query: Record<string, unknown> = { follow: opts?.follow ?? false, stdout, stderr, timestamps: true, tail, ...(since ? { since } : {}) };
    let stream: Readable;
    try {
      stream = await new Promise<Readable>((resolve, reject) =>
        this.docker.modem.dial(
          {
            path: `/containers/${encodeURIComponent(id)}/logs?`,
            method: 'GET',
            isStream: true,
            abortSignal: signal,
            statusCodes: { 200: true, 404: 'no such container', 500: 'server error', 501: 'logging driver does not support reading' },
            options: query,
          } as never,
          (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as Readable)),
        ),
      );
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw err;
    }
    const stopFollowing = whenAborted(signal, () => stream.destroy());
    const toMessage = (streamId: number, line: Buffer): LogMessageIn => {
      const { timestamp, data } = splitLogLine(line, nowTimestamp);
      return { context, timestamp, stream: streamId as LogMessageIn['stream'], data };
    };
    try {
      if (info.Config.Tty) {
        let rest: Buffer = Buffer.alloc(0);
        for await (const chunk of stream) {
          const { lines, rest: r } = splitLines(Buffer.concat([rest, chunk as Buffer]));
          rest = r;
          if (lines.length > 0) queue.push(lines.map((l) => toMessage(LogStream.LOG_STREAM_STDOUT, l)));
          await queue.room();
        }
        if (rest.length > 0) queue.push([toMessage(LogStream.LOG_STREAM_STDOUT, rest)]);
      } else {
        const demux = new StdcopyDemuxer();
        for await (const chunk of stream) {
          const batch: LogMessageIn[] = [];
          for (const f of demux.push(chunk as Buffer)) {
            const streamId = f.stream === 2 ? LogStream.LOG_STREAM_STDERR : LogStream.LOG_STREAM_STDOUT;
            // One frame is one engine message; a long line arrives as several, each stamped.
            const { lines, rest } = splitLines(f.payload);
            for (const l of lines) batch.push(toMessage(streamId, l));
            if (rest.length > 0) batch.push(toMessage(streamId, rest));
          }
          if (batch.length > 0) queue.push(batch);
          await queue.room();
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      stopFollowing();
      stream.destroy();
    }
  }
}
