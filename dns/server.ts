// One query in, one reply out: parse, answer from the names (a NameLookup: the name table) or
// forward, encode. No sockets here; the listeners call handle() and send what it returns. Local answers are produced
// synchronously (no promise, no closure) because they are nearly all of the traffic.
//
// Clients ask the same few names over and over, so a local answer is kept, keyed by the asking
// sandbox, the transport's size limit and the query's bytes after its ID: the same query again,
// while the names are unchanged (same generation), is answered by copying the reply and writing the new ID in,
// without parsing, resolving or encoding. A multi-address answer (dnsrr, tasks.<svc>) is
// shuffled per query: kept only when its records differ in nothing but their address (same
// type, TTL and size), so that a hit can shuffle the addresses in the copy, and when none was
// cut to fit (TC).
import type { Forwarder } from './forwarder.js';
import type { NameLookup, SandboxId } from './name-table.js';
import {
  CLASS_IN,
  MAX_MESSAGE_LEN,
  OPCODE_QUERY,
  RCode,
  RRType,
  encodeEmpty,
  encodeResponse,
  encodeTruncated,
  parseQuery,
  skipName,
  udpLimit,
  type Malformed,
  type Query,
} from './wire.js';

export type Transport = 'udp' | 'tcp';

export interface DnsStats {
  queries: number;
  /** Answered from the names (including NODATA and NXDOMAIN for berth's own names). */
  local: number;
  forwarded: number;
  servfail: number;
  notimp: number;
  badvers: number;
  truncated: number;
  malformed: Record<Malformed, number>;
}

export interface DnsServerOptions {
  /** Where names are read (the name table); only read, never written, here. */
  names: NameLookup;
  /** Without one, names berth does not own get SERVFAIL (no host resolvers configured). */
  forwarder?: Forwarder | undefined;
  /** Returns [0, 1); shuffles cached multi-address answers. Math.random by default. */
  random?: () => number;
}

/** A kept local answer: what a repeat of its query gets, with its own ID (and addresses shuffled). */
export interface CachedAnswer {
  /** The names' generation it was answered at; stale once the names move on. */
  generation: number;
  reply: Buffer;
  /** Where each answer's address starts, when there are several to shuffle; all rdataLength long. */
  rdataOffsets: Uint16Array | undefined;
  rdataLength: number;
}

/**
 * The rdata offsets of a reply's answers when they can be shuffled in place: every answer is an
 * A or AAAA record of the same type, class, TTL and rdata length. undefined when they cannot
 * (or on anything odd).
 */
function shuffleableAnswers(reply: Buffer, questionEnd: number): { offsets: Uint16Array; length: number } | undefined {
  const count = reply.readUInt16BE(6);
  let at = questionEnd;
  const offsets: number[] = [];
  let fixed: string | undefined;
  let length = -1;
  for (let i = 0; i < count; i++) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return undefined;
    // Only addresses move: other rdata holds names that later records (SRV glue) point into.
    const type = reply.readUInt16BE(at);
    if (type !== RRType.A && type !== RRType.AAAA) return undefined;
    const header = reply.toString('latin1', at, at + 8); // type, class, TTL
    const rdlen = reply.readUInt16BE(at + 8);
    if (fixed === undefined) {
      fixed = header;
      length = rdlen;
    } else if (header !== fixed || rdlen !== length) {
      return undefined;
    }
    offsets.push(at + 10);
    at += 10 + rdlen;
    if (at > reply.length) return undefined;
  }
  return { offsets: Uint16Array.from(offsets), length };
}

function emptyMalformed(): Record<Malformed, number> {
  return { 'short-header': 0, response: 0, 'question-count': 0, 'bad-name': 0, 'short-question': 0, 'bad-record': 0, 'bad-opt': 0 };
}

/** Replies kept at most; the cache starts over when full (cheaper than an LRU on this path). */
export const ANSWER_CACHE_MAX = 4096;
/** Longer queries are not cached (keys stay small; real queries are far shorter). */
const CACHE_MAX_QUERY_BYTES = 300;
const ID_BYTES = 2;

/** The answer cache's key: the asking sandbox, the transport, the query's bytes after its ID. */
function cacheKey(msg: Buffer, from: SandboxId, transport: Transport): string | undefined {
  return msg.length > ID_BYTES && msg.length <= CACHE_MAX_QUERY_BYTES ? `${from}\0${transport}\0${msg.toString('latin1', ID_BYTES)}` : undefined;
}

export class DnsServer {
  readonly names: NameLookup;
  private readonly answers = new Map<string, CachedAnswer>();
  private readonly random: () => number;
  private readonly forwarder: Forwarder | undefined;
  private readonly counters: Omit<DnsStats, 'malformed'> = { queries: 0, local: 0, forwarded: 0, servfail: 0, notimp: 0, badvers: 0, truncated: 0 };
  private readonly malformed = emptyMalformed();
  /**
   * Queries answered from kept replies by a listener's native UDP socket (never reaching
   * handle()); that socket adds to it, stats() counts them as queries answered locally.
   */
  readonly keptReplyHits = new Float64Array(new ArrayBuffer(Float64Array.BYTES_PER_ELEMENT)); // off the V8 heap: the addon keeps its address

  constructor(opts: DnsServerOptions) {
    this.names = opts.names;
    this.forwarder = opts.forwarder;
    this.random = opts.random ?? Math.random;
  }

  stats(): DnsStats {
    const hits = this.keptReplyHits[0]!;
    return { ...this.counters, queries: this.counters.queries + hits, local: this.counters.local + hits, malformed: { ...this.malformed } };
  }

  /** Replies held in the answer cache (tests, diagnostics). */
  cachedAnswers(): number {
    return this.answers.size;
  }

  /** Total datagrams dropped as malformed (every reason). */
  malformedCount(): number {
    let n = 0;
    for (const v of Object.values(this.malformed)) n += v;
    return n;
  }

  /**
   * Handles one message from sandbox `from`. Returns the reply now (local answers), a promise of
   * it (forwarded; it never rejects), or undefined when the message is dropped.
   */
  handle(msg: Buffer, from: SandboxId, transport: Transport): Buffer | Promise<Buffer> | undefined {
    const key = cacheKey(msg, from, transport);
    if (key !== undefined) {
      const hit = this.answers.get(key);
      if (hit && hit.generation === this.names.generation) {
        this.counters.queries++;
        this.counters.local++;
        const reply = Buffer.allocUnsafe(hit.reply.length);
        hit.reply.copy(reply);
        reply[0] = msg[0]!;
        reply[1] = msg[1]!;
        if (hit.rdataOffsets) this.shuffleRdata(reply, hit.rdataOffsets, hit.rdataLength, hit.reply);
        return reply;
      }
    }
    const q = parseQuery(msg);
    if (typeof q === 'string') {
      this.malformed[q]++;
      return undefined;
    }
    this.counters.queries++;
    if (q.opcode !== OPCODE_QUERY) {
      this.counters.notimp++;
      return encodeEmpty(msg, q, RCode.NOTIMP);
    }
    if (q.edns && q.edns.version !== 0) {
      this.counters.badvers++;
      return encodeEmpty(msg, q, RCode.BADVERS);
    }
    const maxSize = transport === 'udp' ? udpLimit(q) : MAX_MESSAGE_LEN;
    if (q.plainName && q.class === CLASS_IN) {
      const r = this.names.resolve(q, from);
      if (r.kind === 'answer') {
        this.counters.local++;
        const additionals = r.answers.length > 0 && r.answers[0]!.type === RRType.SRV ? this.names.additionalsFor(r.answers, from) : r.additionals;
        const reply = encodeResponse(msg, q, { rcode: r.rcode, authoritative: true, answers: r.answers, additionals, maxSize });
        if (key !== undefined) this.remember(key, reply, q.questionEnd, r.answers.length);
        return reply;
      }
    }
    return this.forward(msg, q, from, transport, maxSize);
  }

  /**
   * The kept answer to msg from `from` over transport, while current: what a listener may
   * serve again by itself (with the query's ID, and its addresses shuffled) until the names'
   * generation moves past the answer's.
   */
  keptAnswer(msg: Buffer, from: SandboxId, transport: Transport): Readonly<CachedAnswer> | undefined {
    const key = cacheKey(msg, from, transport);
    const hit = key === undefined ? undefined : this.answers.get(key);
    return hit && hit.generation === this.names.generation ? hit : undefined;
  }

  private remember(key: string, reply: Buffer, questionEnd: number, answers: number): void {
    let rdataOffsets: Uint16Array | undefined;
    let rdataLength = 0;
    // Cut to fit (TC): the table's shuffle picks which answers fit, so a kept copy would pin
    // every later reply to one subset of the tasks.
    if (reply.readUInt16BE(6) !== answers) return;
    if (answers > 1) {
      const s = shuffleableAnswers(reply, questionEnd);
      if (!s) return;
      rdataOffsets = s.offsets;
      rdataLength = s.length;
    }
    if (this.answers.size >= ANSWER_CACHE_MAX) this.answers.clear();
    this.answers.set(key, { generation: this.names.generation, reply: Buffer.from(reply), rdataOffsets, rdataLength });
  }

  /** Fisher–Yates over the answers' addresses, read from the cached reply, written to the copy. */
  private shuffleRdata(out: Buffer, offsets: Uint16Array, length: number, from: Buffer): void {
    const order = Array.from(offsets, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const tmp = order[i]!;
      order[i] = order[j]!;
      order[j] = tmp;
    }
    for (let i = 0; i < offsets.length; i++) from.copy(out, offsets[i]!, offsets[order[i]!]!, offsets[order[i]!]! + length);
  }

  /** Forwarded within the asking sandbox's share of the forwarder. */
  private async forward(msg: Buffer, q: Query, from: SandboxId, transport: Transport, maxSize: number): Promise<Buffer> {
    this.counters.forwarded++;
    const reply = this.forwarder ? await this.forwarder.forward(msg, q.questionEnd, transport === 'tcp', from) : undefined;
    if (!reply) {
      this.counters.servfail++;
      return encodeEmpty(msg, q, RCode.SERVFAIL);
    }
    if (reply.length > maxSize) {
      this.counters.truncated++;
      return encodeTruncated(msg, q, reply);
    }
    reply.writeUInt16BE(q.id, 0);
    return reply;
  }
}
