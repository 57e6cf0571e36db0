// One query in, one reply out: parse, answer from the name table or forward, encode. No sockets
// here; the listeners call handle() and send what it returns. Local answers are produced
// synchronously (no promise, no closure) because they are nearly all of the traffic.
import type { Forwarder } from './forwarder.js';
import type { NameTable, SandboxId } from './name-table.js';
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
  udpLimit,
  type Malformed,
  type Query,
} from './wire.js';

export type Transport = 'udp' | 'tcp';

export interface DnsStats {
  queries: number;
  /** Answered from the name table (including NODATA and NXDOMAIN for berth's own names). */
  local: number;
  forwarded: number;
  servfail: number;
  notimp: number;
  badvers: number;
  truncated: number;
  malformed: Record<Malformed, number>;
}

export interface DnsServerOptions {
  table: NameTable;
  /** Without one, names berth does not own get SERVFAIL (no host resolvers configured). */
  forwarder?: Forwarder | undefined;
}

function emptyMalformed(): Record<Malformed, number> {
  return { 'short-header': 0, response: 0, 'question-count': 0, 'bad-name': 0, 'short-question': 0, 'bad-record': 0, 'bad-opt': 0 };
}

export class DnsServer {
  readonly table: NameTable;
  private readonly forwarder: Forwarder | undefined;
  private readonly counters: Omit<DnsStats, 'malformed'> = { queries: 0, local: 0, forwarded: 0, servfail: 0, notimp: 0, badvers: 0, truncated: 0 };
  private readonly malformed = emptyMalformed();

  constructor(opts: DnsServerOptions) {
    this.table = opts.table;
    this.forwarder = opts.forwarder;
  }

  stats(): DnsStats {
    return { ...this.counters, malformed: { ...this.malformed } };
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
      const r = this.table.resolve(q, from);
      if (r.kind === 'answer') {
        this.counters.local++;
        const additionals = r.answers.length > 0 && r.answers[0]!.type === RRType.SRV ? this.table.additionalsFor(r.answers, from) : r.additionals;
        const reply = encodeResponse(msg, q, { rcode: r.rcode, authoritative: true, answers: r.answers, additionals, maxSize });
        return reply;
      }
    }
    return this.forward(msg, q, transport, maxSize);
  }

  private async forward(msg: Buffer, q: Query, transport: Transport, maxSize: number): Promise<Buffer> {
    this.counters.forwarded++;
    const reply = this.forwarder ? await this.forwarder.forward(msg, q.questionEnd, transport === 'tcp') : undefined;
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
