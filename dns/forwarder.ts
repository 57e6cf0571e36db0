// Forwards the queries berth does not own to the host's resolvers, from agentd's own network
// namespace. Bounded everywhere: a cap on queries in flight with a bounded queue behind it
// (Docker's fixed cap of 100 dropped the rest silently: moby/libnetwork#2082), a deadline per
// query, per-upstream health so a dead resolver is tried last, and SERVFAIL (never silence)
// when all of that runs out.
//
// Fair: every sandbox has its own share of the queries in flight and its own queue, and the
// queues are served in turn, so a task flooding a slow name fills only its own share; the
// node-wide caps stay as the backstop (a full node-wide queue drops from the longest queue).
//
// Spoofing (Kaminsky): an answer is taken only from the address and port the query went to,
// with the random id and the question of a query pending on the socket it arrived at. Each UDP
// socket is the kernel's random pick of a port and carries at most UDP_QUERIES_PER_SOCKET
// queries, and only queries in flight at the same time: a query after a quiet moment gets a
// fresh port. Why not a socket per query: measured here, one per query added ~19 µs of CPU to
// a forwarded query (double its cost; a quarter of `npm run bench -- dns` is forwarded), while
// sixteen to a socket add ~1 µs; a forger still has to hit a ~15-bit port and a 16-bit id.
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
/** A sandbox's share: above Docker's per-container 100, and eight sandboxes at it leave room. */
const DEFAULT_MAX_IN_FLIGHT_PER_SANDBOX = 128;
const DEFAULT_MAX_QUEUED_PER_SANDBOX = 256;
/** Queries one UDP socket (one source port) carries over its life; see the file's opening. */
export const UDP_QUERIES_PER_SOCKET = 16;
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
  /** One sandbox's queries in flight at most (default: 128, or maxInFlight when lower). */
  maxInFlightPerSandbox?: number;
  /** One sandbox's queries waiting at most; more are refused at once (counted in overShare). */
  maxQueuedPerSandbox?: number;
  /** Clock for health bookkeeping; Date.now by default. */
  now?: () => number;
}

export interface ForwarderStats {
  forwarded: number;
  answered: number;
  failed: number;
  /** Refused at once, or dropped from the longest queue, because the node-wide queue was full. */
  overflow: number;
  /** Refused at once because the asking sandbox had its share in flight and its own queue full. */
  overShare: number;
  queued: number;
  inFlight: number;
  tcpFallbacks: number;
  timeouts: number;
  /** Datagrams on an upstream socket that matched no pending query (late, spoofed, garbage). */
  unmatched: number;
  /** Datagrams dropped because they came from another address or port than the upstream asked. */
  wrongSource: number;
  /** UDP sockets open to the upstreams (each one source port). */
  udpSockets: number;
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

/** One source port: a socket with the queries it carries (by id). */
interface UdpPort {
  socket: dgram.Socket;
  pending: Map<number, PendingUdp>;
  /** Queries sent from it so far; it takes no more at UDP_QUERIES_PER_SOCKET. */
  carried: number;
}

interface UpstreamState extends UpstreamHealth {
  family: 4 | 6;
  /** The address an answer must come from: canonical, without an IPv6 zone (as rinfo has it). */
  sender: string;
  /** The port new queries share while it has some pending and room left. */
  current: UdpPort | undefined;
}

interface Waiting {
  query: Buffer;
  questionEnd: number;
  tcp: boolean;
  enqueuedAt: number;
  resolve: (r: Buffer | undefined) => void;
}

/** One sandbox's part of the forwarder; forgotten when it has nothing in flight or waiting. */
interface Share {
  key: string;
  inFlight: number;
  queue: Waiting[];
}

function withoutZone(address: string): string {
  const at = address.indexOf('%');
  return at < 0 ? address : address.slice(0, at);
}

function senderAddress(address: string, family: 4 | 6): string {
  const bare = withoutZone(address);
  return family === 4 ? bare : new net.SocketAddress({ address: bare, family: 'ipv6' }).address;
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
  private readonly maxInFlightPerSandbox: number;
  private readonly maxQueuedPerSandbox: number;
  private readonly now: () => number;
  private readonly shares = new Map<string, Share>();
  /** Shares with queries waiting, in the order they are served next (round robin). */
  private readonly waiting = new Set<Share>();
  private queued = 0;
  private inFlight = 0;
  private closed = false;
  private readonly tcpSockets = new Set<net.Socket>();
  private readonly udpPorts = new Set<UdpPort>();
  private readonly counters = { forwarded: 0, answered: 0, failed: 0, overflow: 0, overShare: 0, tcpFallbacks: 0, timeouts: 0, unmatched: 0, wrongSource: 0 };

  constructor(opts: ForwarderOptions) {
    this.upstreams = opts.upstreams.map((u) => {
      const family = isIP(u.address.split('%')[0] ?? '');
      if (family === 0) throw new DnsError('E_DNS_BAD_CONFIG', `forwarder: upstream ${JSON.stringify(u.address)} is not an IP address`);
      const f = family as 4 | 6;
      return { address: u.address, port: u.port, family: f, sender: senderAddress(u.address, f), consecutiveFailures: 0, downUntil: 0, current: undefined };
    });
    this.attemptTimeoutMs = checkPositiveInt('attemptTimeoutMs', opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS);
    this.attempts = checkPositiveInt('attempts', opts.attempts ?? DEFAULT_ATTEMPTS);
    this.maxInFlight = checkPositiveInt('maxInFlight', opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.maxInFlightPerSandbox = checkPositiveInt('maxInFlightPerSandbox', opts.maxInFlightPerSandbox ?? Math.min(DEFAULT_MAX_IN_FLIGHT_PER_SANDBOX, this.maxInFlight));
    this.maxQueuedPerSandbox = opts.maxQueuedPerSandbox ?? DEFAULT_MAX_QUEUED_PER_SANDBOX;
    this.now = opts.now ?? Date.now;
  }

  stats(): ForwarderStats {
    return { ...this.counters, queued: this.queued, inFlight: this.inFlight, udpSockets: this.udpPorts.size };
  }

  health(): UpstreamHealth[] {
    return this.upstreams.map(({ address, port, consecutiveFailures, downUntil }) => ({ address, port, consecutiveFailures, downUntil }));
  }

  /**
   * Sends query (a client's message, left untouched) upstream on behalf of sandbox (its share);
   * resolves with the upstream's reply carrying the upstream's id (the caller restores the
   * client's), or undefined when every attempt failed or the sandbox's share or the forwarder
   * is saturated. Never rejects.
   */
  forward(query: Buffer, questionEnd: number, tcp: boolean, sandbox = ''): Promise<Buffer | undefined> {
    this.counters.forwarded++;
    if (this.closed || this.upstreams.length === 0) {
      this.counters.failed++;
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const share = this.shareOf(sandbox);
      const w: Waiting = { query, questionEnd, tcp, enqueuedAt: 0, resolve };
      if (share.queue.length === 0 && share.inFlight < this.maxInFlightPerSandbox && this.inFlight < this.maxInFlight) {
        this.start(share, w);
      } else if (share.queue.length >= this.maxQueuedPerSandbox) {
        this.counters.overShare++;
        this.refuse(share, w);
      } else if (this.queued >= this.maxQueued && !this.dropFromLongestQueue(share)) {
        this.counters.overflow++;
        this.refuse(share, w);
      } else {
        w.enqueuedAt = this.now();
        share.queue.push(w);
        this.queued++;
        this.waiting.add(share);
      }
    });
  }

  private shareOf(key: string): Share {
    let s = this.shares.get(key);
    if (!s) {
      s = { key, inFlight: 0, queue: [] };
      this.shares.set(key, s);
    }
    return s;
  }

  private refuse(share: Share, w: Waiting): void {
    this.counters.failed++;
    this.forgetIdle(share);
    w.resolve(undefined);
  }

  private forgetIdle(share: Share): void {
    if (share.inFlight === 0 && share.queue.length === 0) this.shares.delete(share.key);
  }

  /**
   * The node-wide queue is full: the oldest query of the longest queue gives way, unless that
   * queue is the asker's own (then the asker is refused). Returns whether room was made.
   */
  private dropFromLongestQueue(asker: Share): boolean {
    let longest: Share | undefined;
    for (const s of this.waiting) if (!longest || s.queue.length > longest.queue.length) longest = s;
    if (!longest || longest === asker || longest.queue.length <= asker.queue.length) return false;
    const dropped = longest.queue.shift()!;
    this.queued--;
    if (longest.queue.length === 0) this.waiting.delete(longest);
    this.counters.overflow++;
    this.counters.failed++;
    this.forgetIdle(longest);
    dropped.resolve(undefined);
    return true;
  }

  private start(share: Share, w: Waiting): void {
    this.inFlight++;
    share.inFlight++;
    void this.exchange(w.query, w.questionEnd, w.tcp).then((r) => {
      this.inFlight--;
      share.inFlight--;
      if (r) this.counters.answered++;
      else this.counters.failed++;
      w.resolve(r);
      this.drain();
      this.forgetIdle(share);
    });
  }

  /** Starts waiting queries while there is room: one per sandbox in turn, skipping those at their share. */
  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.size > 0) {
      let next: Share | undefined;
      for (const s of this.waiting) {
        if (s.inFlight < this.maxInFlightPerSandbox) {
          next = s;
          break;
        }
      }
      if (!next) return;
      const w = next.queue.shift()!;
      this.queued--;
      this.waiting.delete(next);
      if (next.queue.length > 0) this.waiting.add(next);
      // A query that waited a whole attempt is already lost to the client's own timeout.
      if (this.now() - w.enqueuedAt > this.attemptTimeoutMs) {
        this.counters.failed++;
        this.forgetIdle(next);
        w.resolve(undefined);
        continue;
      }
      this.start(next, w);
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

  /** The upstream's current port while it has room, else a fresh one (a new random port). */
  private portFor(up: UpstreamState): UdpPort {
    const cur = up.current;
    if (cur && cur.carried < UDP_QUERIES_PER_SOCKET) return cur;
    const port: UdpPort = { socket: dgram.createSocket(up.family === 6 ? 'udp6' : 'udp4'), pending: new Map(), carried: 0 };
    port.socket.on('message', (msg, rinfo) => this.onUpstreamMessage(up, port, msg, rinfo));
    // Unconnected UDP only errors on local problems: its queries fail now and the attempt loop retries.
    port.socket.on('error', () => {
      for (const p of port.pending.values()) {
        clearTimeout(p.timer);
        p.resolve(undefined);
      }
      port.pending.clear();
      this.release(up, port);
    });
    // Bound at once, explicitly: a send on an unbound socket binds it too, at twice the CPU.
    port.socket.bind(0, up.family === 6 ? '::' : '0.0.0.0');
    port.socket.unref();
    up.current = port;
    this.udpPorts.add(port);
    return port;
  }

  /** Closes a port once nothing is pending on it; a late answer then meets a closed port. */
  private release(up: UpstreamState, port: UdpPort): void {
    if (port.pending.size > 0) return;
    if (up.current === port) up.current = undefined;
    if (!this.udpPorts.delete(port)) return;
    try {
      port.socket.close();
    } catch {
      // already closed
    }
  }

  private onUpstreamMessage(up: UpstreamState, port: UdpPort, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port !== up.port || (rinfo.address !== up.sender && withoutZone(rinfo.address) !== up.sender)) {
      this.counters.wrongSource++;
      return;
    }
    if (msg.length < HEADER_LEN) {
      this.counters.unmatched++;
      return;
    }
    const id = msg.readUInt16BE(0);
    const p = port.pending.get(id);
    if (!p || !replyMatches(msg, p.query, p.questionEnd)) {
      this.counters.unmatched++;
      return;
    }
    port.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(msg);
    this.release(up, port);
  }

  /** A fresh random id unused on this port: the port, the 16-bit id and the question are what a spoofer must guess. */
  private freeId(port: UdpPort): number {
    for (;;) {
      const id = randomInt(ID_SPACE);
      if (!port.pending.has(id)) return id;
    }
  }

  private udpExchange(up: UpstreamState, query: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const port = this.portFor(up);
      port.carried++;
      const id = this.freeId(port);
      const copy = Buffer.from(query);
      copy.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        port.pending.delete(id);
        this.counters.timeouts++;
        resolve(undefined);
        this.release(up, port);
      }, timeoutMs);
      port.pending.set(id, { query: copy, questionEnd, resolve, timer });
      port.socket.send(copy, up.port, up.address, (err) => {
        if (err && port.pending.get(id)?.timer === timer) {
          port.pending.delete(id);
          clearTimeout(timer);
          resolve(undefined);
          this.release(up, port);
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
    for (const port of this.udpPorts) {
      for (const p of port.pending.values()) {
        clearTimeout(p.timer);
        p.resolve(undefined);
      }
      port.pending.clear();
      port.socket.close();
    }
    this.udpPorts.clear();
    for (const up of this.upstreams) up.current = undefined;
    for (const s of this.tcpSockets) s.destroy();
    for (const share of this.waiting) for (const w of share.queue) w.resolve(undefined);
    this.waiting.clear();
    this.shares.clear();
    this.queued = 0;
  }
}
