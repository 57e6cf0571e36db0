// Forwards the queries berth does not own to the host's resolvers, from agentd's own network
// namespace. Bounded everywhere: a cap on queries in flight with a bounded queue behind it
// (Docker's fixed cap of 100 dropped the rest silently: moby/libnetwork#2082), a deadline per
// query, per-upstream health so a dead resolver is tried last, and SERVFAIL (never silence)
// when all of that runs out.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { DnsError } from './errors.js';
import type { Upstream } from './resolv-conf.js';
import { Flag, HEADER_LEN, MAX_MESSAGE_LEN, replyMatches } from './wire.js';

/**
 * Per attempt. Two attempts fit inside glibc's default 5 s per-server timeout, so the client
 * sees our SERVFAIL instead of timing out and re-sending into the same backlog.
 */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 2000;
const DEFAULT_ATTEMPTS = 2;
/** Docker's cap is 100; berth's is higher because a query in flight costs one map entry here. */
const DEFAULT_MAX_IN_FLIGHT = 1024;
const DEFAULT_MAX_QUEUED = 4096;
/** An upstream that failed is tried last for this long, doubling per failure up to the max. */
const DOWN_BACKOFF_MS = 1000;
const DOWN_BACKOFF_MAX_MS = 30_000;
const ID_SPACE = 0x10000;
const TCP_LENGTH_PREFIX = 2;

export interface ForwarderOptions {
  upstreams: readonly Upstream[];
  attemptTimeoutMs?: number;
  attempts?: number;
  maxInFlight?: number;
  maxQueued?: number;
  /** Clock for health bookkeeping; Date.now by default. */
  now?: () => number;
}

export interface ForwarderStats {
  forwarded: number;
  answered: number;
  failed: number;
  /** Refused at once because the queue was full. */
  overflow: number;
  queued: number;
  inFlight: number;
  tcpFallbacks: number;
  timeouts: number;
  /** Datagrams on an upstream socket that matched no pending query (late, spoofed, garbage). */
  unmatched: number;
}

export interface UpstreamHealth {
  address: string;
  port: number;
  consecutiveFailures: number;
  downUntil: number;
}

interface PendingUdp {
  query: Buffer;
  questionEnd: number;
  resolve: (r: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

interface UpstreamState extends UpstreamHealth {
  family: 4 | 6;
  socket: dgram.Socket | undefined;
  pending: Map<number, PendingUdp>;
}

interface Waiting {
  query: Buffer;
  questionEnd: number;
  tcp: boolean;
  enqueuedAt: number;
  resolve: (r: Buffer | undefined) => void;
}

function checkPositiveInt(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new DnsError('E_DNS_BAD_CONFIG', `forwarder: ${what} must be a positive integer, got ${String(v)}`);
  return v;
}

export class Forwarder {
  private readonly upstreams: UpstreamState[];
  private readonly attemptTimeoutMs: number;
  private readonly attempts: number;
  private readonly maxInFlight: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  private readonly queue: Waiting[] = [];
  private queueHead = 0;
  private inFlight = 0;
  private closed = false;
  private readonly tcpSockets = new Set<net.Socket>();
  private readonly counters = { forwarded: 0, answered: 0, failed: 0, overflow: 0, tcpFallbacks: 0, timeouts: 0, unmatched: 0 };

  constructor(opts: ForwarderOptions) {
    this.upstreams = opts.upstreams.map((u) => {
      const family = isIP(u.address.split('%')[0] ?? '');
      if (family === 0) throw new DnsError('E_DNS_BAD_CONFIG', `forwarder: upstream ${JSON.stringify(u.address)} is not an IP address`);
      return { address: u.address, port: u.port, family: family as 4 | 6, consecutiveFailures: 0, downUntil: 0, socket: undefined, pending: new Map() };
    });
    this.attemptTimeoutMs = checkPositiveInt('attemptTimeoutMs', opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS);
    this.attempts = checkPositiveInt('attempts', opts.attempts ?? DEFAULT_ATTEMPTS);
    this.maxInFlight = checkPositiveInt('maxInFlight', opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.now = opts.now ?? Date.now;
  }

  stats(): ForwarderStats {
    return { ...this.counters, queued: this.queue.length - this.queueHead, inFlight: this.inFlight };
  }

  health(): UpstreamHealth[] {
    return this.upstreams.map(({ address, port, consecutiveFailures, downUntil }) => ({ address, port, consecutiveFailures, downUntil }));
  }

  /**
   * Sends query (a client's message, left untouched) upstream; resolves with the upstream's
   * reply carrying the upstream's id (the caller restores the client's), or undefined when
   * every attempt failed or the forwarder is saturated. Never rejects.
   */
  forward(query: Buffer, questionEnd: number, tcp: boolean): Promise<Buffer | undefined> {
    this.counters.forwarded++;
    if (this.closed || this.upstreams.length === 0) {
      this.counters.failed++;
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      if (this.inFlight < this.maxInFlight) {
        this.start(query, questionEnd, tcp, resolve);
      } else if (this.queue.length - this.queueHead < this.maxQueued) {
        this.queue.push({ query, questionEnd, tcp, enqueuedAt: this.now(), resolve });
      } else {
        this.counters.overflow++;
        this.counters.failed++;
        resolve(undefined);
      }
    });
  }

  private start(query: Buffer, questionEnd: number, tcp: boolean, resolve: (r: Buffer | undefined) => void): void {
    this.inFlight++;
    void this.exchange(query, questionEnd, tcp).then((r) => {
      this.inFlight--;
      if (r) this.counters.answered++;
      else this.counters.failed++;
      resolve(r);
      this.drain();
    });
  }

  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.queueHead < this.queue.length) {
      const w = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Waiting;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      // A query that waited a whole attempt is already lost to the client's own timeout.
      if (this.now() - w.enqueuedAt > this.attemptTimeoutMs) {
        this.counters.failed++;
        w.resolve(undefined);
        continue;
      }
      this.start(w.query, w.questionEnd, w.tcp, w.resolve);
    }
  }

  /** Healthy upstreams in configured order, then the ones marked down, soonest back first. */
  private order(): UpstreamState[] {
    const now = this.now();
    const up = this.upstreams.filter((u) => u.downUntil <= now);
    if (up.length === this.upstreams.length) return up;
    const down = this.upstreams.filter((u) => u.downUntil > now).sort((a, b) => a.downUntil - b.downUntil);
    return [...up, ...down];
  }

  private async exchange(query: Buffer, questionEnd: number, tcp: boolean): Promise<Buffer | undefined> {
    const deadline = this.now() + this.attemptTimeoutMs * this.attempts;
    const order = this.order();
    for (let i = 0; i < this.attempts; i++) {
      const left = deadline - this.now();
      if (left <= 0 || this.closed) break;
      const up = order[i % order.length]!;
      const timeout = Math.min(this.attemptTimeoutMs, left);
      let reply = tcp ? await this.tcpExchange(up, query, questionEnd, timeout) : await this.udpExchange(up, query, questionEnd, timeout);
      if (reply && !tcp && (reply.readUInt16BE(2) & Flag.TC) !== 0) {
        this.counters.tcpFallbacks++;
        reply = await this.tcpExchange(up, query, questionEnd, Math.max(1, Math.min(this.attemptTimeoutMs, deadline - this.now())));
      }
      if (reply) {
        up.consecutiveFailures = 0;
        up.downUntil = 0;
        return reply;
      }
      up.consecutiveFailures++;
      up.downUntil = this.now() + Math.min(DOWN_BACKOFF_MAX_MS, DOWN_BACKOFF_MS * 2 ** (up.consecutiveFailures - 1));
    }
    return undefined;
  }

  private socketFor(up: UpstreamState): dgram.Socket {
    if (up.socket) return up.socket;
    const sock = dgram.createSocket(up.family === 6 ? 'udp6' : 'udp4');
    sock.on('message', (msg, rinfo) => this.onUpstreamMessage(up, msg, rinfo));
    // Unconnected UDP only errors on local problems; the pending queries time out and retry.
    sock.on('error', () => this.resetSocket(up));
    sock.unref();
    up.socket = sock;
    return sock;
  }

  private resetSocket(up: UpstreamState): void {
    const s = up.socket;
    up.socket = undefined;
    try {
      s?.close();
    } catch {
      // already closed
    }
  }

  private onUpstreamMessage(up: UpstreamState, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < HEADER_LEN || rinfo.port !== up.port) {
      this.counters.unmatched++;
      return;
    }
    const p = up.pending.get(msg.readUInt16BE(0));
    if (!p || !replyMatches(msg, p.query, p.questionEnd)) {
      this.counters.unmatched++;
      return;
    }
    up.pending.delete(msg.readUInt16BE(0));
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  /** A fresh random id unused on this upstream: the 16-bit id plus the question are what a spoofer must guess. */
  private freeId(up: UpstreamState): number {
    for (;;) {
      const id = randomInt(ID_SPACE);
      if (!up.pending.has(id)) return id;
    }
  }

  private udpExchange(up: UpstreamState, query: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      if (up.pending.size >= ID_SPACE / 2) {
        resolve(undefined);
        return;
      }
      const id = this.freeId(up);
      const copy = Buffer.from(query);
      copy.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        up.pending.delete(id);
        this.counters.timeouts++;
        resolve(undefined);
      }, timeoutMs);
      up.pending.set(id, { query: copy, questionEnd, resolve, timer });
      const sock = this.socketFor(up);
      sock.send(copy, up.port, up.address, (err) => {
        if (err && up.pending.get(id)?.timer === timer) {
          up.pending.delete(id);
          clearTimeout(timer);
          resolve(undefined);
        }
      });
    });
  }

  private tcpExchange(up: UpstreamState, query: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const copy = Buffer.allocUnsafe(TCP_LENGTH_PREFIX + query.length);
      copy.writeUInt16BE(query.length, 0);
      query.copy(copy, TCP_LENGTH_PREFIX);
      copy.writeUInt16BE(randomInt(ID_SPACE), TCP_LENGTH_PREFIX);
      const msgQuery = copy.subarray(TCP_LENGTH_PREFIX);
      const conn = net.connect({ host: up.address, port: up.port });
      this.tcpSockets.add(conn);
      let buf: Buffer = Buffer.alloc(0);
      let done = false;
      const finish = (r: Buffer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.tcpSockets.delete(conn);
        conn.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.counters.timeouts++;
        finish(undefined);
      }, timeoutMs);
      conn.on('connect', () => conn.write(copy));
      conn.on('error', () => finish(undefined));
      conn.on('close', () => finish(undefined));
      conn.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (buf.length > TCP_LENGTH_PREFIX + MAX_MESSAGE_LEN) return finish(undefined);
        if (buf.length < TCP_LENGTH_PREFIX) return;
        const len = buf.readUInt16BE(0);
        if (buf.length < TCP_LENGTH_PREFIX + len) return;
        const reply = Buffer.from(buf.subarray(TCP_LENGTH_PREFIX, TCP_LENGTH_PREFIX + len));
        finish(replyMatches(reply, msgQuery, questionEnd) && reply.readUInt16BE(0) === msgQuery.readUInt16BE(0) ? reply : undefined);
      });
    });
  }

  /** Settles everything pending with undefined (→ SERVFAIL) and releases the sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const up of this.upstreams) {
      for (const p of up.pending.values()) {
        clearTimeout(p.timer);
        p.resolve(undefined);
      }
      up.pending.clear();
      this.resetSocket(up);
    }
    for (const s of this.tcpSockets) s.destroy();
    for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i]!.resolve(undefined);
    this.queue.length = 0;
    this.queueHead = 0;
  }
}
