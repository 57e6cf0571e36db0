// Asks the embedded DNS a question from inside a sandbox, as the task there would: a UDP socket
// opened in the sandbox's network namespace (native/, no thread of ours changes namespace)
// sends to 127.0.0.11:53, so the answer comes through the same listener, the same view of the
// sandbox's networks and the same forwarder the task's own resolver uses. For `agentctl dns`.
// The reply decoder is the client side berth's server never needs (it only parses queries).
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { closeSync } from 'node:fs';
import { openSocketInNetnsAsync } from '../native/index.js';
import { EMBEDDED_DNS_ADDRESS } from '../base/index.js';
import { CLASS_IN, Flag, HEADER_LEN, RCode, RRType, skipName } from './wire.js';
import { DnsError } from './errors.js';

const DNS_PORT = 53;
const DEFAULT_TIMEOUT_MS = 5_000;
const POINTER_MASK = 0xc0;
/** A compressed name may point back at most this often (loops in a hostile reply). */
const MAX_POINTER_HOPS = 64;
const RCODE_MASK = 0x000f;

export type ProbeType = 'A' | 'AAAA' | 'PTR' | 'SRV' | 'TXT' | 'CNAME' | 'MX' | 'NS' | 'SOA';
export const PROBE_TYPES: readonly ProbeType[] = ['A', 'AAAA', 'PTR', 'SRV', 'TXT', 'CNAME', 'MX', 'NS', 'SOA'];

export interface ProbeRecord {
  name: string;
  type: string;
  ttl: number;
  /** Address, target name, `priority weight port target` (SRV), or hex for anything else. */
  data: string;
}

export interface ProbeAnswer {
  /** NOERROR, NXDOMAIN, SERVFAIL, ... */
  rcode: string;
  authoritative: boolean;
  truncated: boolean;
  answers: ProbeRecord[];
}

const TYPE_NAMES = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
const RCODE_NAMES = new Map<number, string>(Object.entries(RCode).map(([k, v]) => [v, k]));

/** The query a stub resolver sends: one question, RD set. */
export function encodeProbe(id: number, name: string, type: ProbeType): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  if (labels.length === 0 || labels.some((l) => Buffer.byteLength(l, 'latin1') > 63) || name.length > 253) {
    throw new DnsError('E_DNS_BAD_NAME', `not a DNS name: ${JSON.stringify(name)} (labels of 1–63 characters, 253 in all)`);
  }
  const parts: Buffer[] = [Buffer.alloc(HEADER_LEN)];
  parts[0]!.writeUInt16BE(id, 0);
  parts[0]!.writeUInt16BE(Flag.RD, 2);
  parts[0]!.writeUInt16BE(1, 4);
  for (const l of labels) parts.push(Buffer.from([Buffer.byteLength(l, 'latin1')]), Buffer.from(l, 'latin1'));
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(RRType[type], 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  parts.push(tail);
  return Buffer.concat(parts);
}

/** Reads a possibly compressed name at `off`; undefined when malformed. */
function readName(msg: Buffer, off: number): string | undefined {
  const labels: string[] = [];
  for (let hops = 0; hops <= MAX_POINTER_HOPS; ) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) return labels.join('.');
    if ((len & POINTER_MASK) === POINTER_MASK) {
      if (off + 1 >= msg.length) return undefined;
      off = ((len & ~POINTER_MASK) << 8) | msg[off + 1]!;
      hops++;
      continue;
    }
    if (off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return undefined;
}

function rdataText(msg: Buffer, type: number, off: number, len: number): string {
  if (type === RRType.A && len === 4) return [...msg.subarray(off, off + 4)].join('.');
  if (type === RRType.AAAA && len === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(msg.readUInt16BE(off + i).toString(16));
    return groups.join(':');
  }
  if (type === RRType.PTR || type === RRType.CNAME || type === RRType.NS) return readName(msg, off) ?? '<malformed>';
  if (type === RRType.SRV && len >= 7) return `${msg.readUInt16BE(off)} ${msg.readUInt16BE(off + 2)} ${msg.readUInt16BE(off + 4)} ${readName(msg, off + 6) ?? '<malformed>'}`;
  return msg.toString('hex', off, off + len);
}

/** Decodes a reply's header and answer section (pure). Throws E_DNS_BAD_REPLY on a malformed one. */
export function decodeProbeReply(msg: Buffer): ProbeAnswer {
  const bad = (why: string) => new DnsError('E_DNS_BAD_REPLY', `malformed DNS reply: ${why}`);
  if (msg.length < HEADER_LEN) throw bad('shorter than a header');
  const flags = msg.readUInt16BE(2);
  if ((flags & Flag.QR) === 0) throw bad('not a response');
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    off = skipName(msg, off);
    if (off < 0 || off + 4 > msg.length) throw bad('question cut short');
    off += 4;
  }
  const answers: ProbeRecord[] = [];
  for (let i = 0; i < an; i++) {
    const name = readName(msg, off);
    off = skipName(msg, off);
    if (name === undefined || off < 0 || off + 10 > msg.length) throw bad(`answer ${i + 1} cut short`);
    const type = msg.readUInt16BE(off);
    const ttl = msg.readUInt32BE(off + 4);
    const len = msg.readUInt16BE(off + 8);
    off += 10;
    if (off + len > msg.length) throw bad(`answer ${i + 1} data cut short`);
    answers.push({ name, type: TYPE_NAMES.get(type) ?? `TYPE${type}`, ttl, data: rdataText(msg, type, off, len) });
    off += len;
  }
  const rcode = flags & RCODE_MASK;
  return { rcode: RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`, authoritative: (flags & Flag.AA) !== 0, truncated: (flags & Flag.TC) !== 0, answers };
}

/**
 * Sends one query to the embedded DNS inside the namespace at `netnsPath` and decodes the
 * reply. E_DNS_PROBE_TIMEOUT when nothing answers (no listener in that sandbox).
 */
export async function probeInNetns(netnsPath: string, name: string, type: ProbeType, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ProbeAnswer> {
  const id = randomInt(0, 0x10000);
  const query = encodeProbe(id, name, type);
  const fd = await openSocketInNetnsAsync(netnsPath, { type: 'udp', address: '0.0.0.0', port: 0 });
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ fd }, () => resolve());
    });
  } catch (err) {
    closeSync(fd);
    throw new DnsError('E_DNS_PROBE', `cannot use a socket in ${netnsPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await new Promise<ProbeAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new DnsError('E_DNS_PROBE_TIMEOUT', `no answer from ${EMBEDDED_DNS_ADDRESS}:${DNS_PORT} in the sandbox within ${timeoutMs} ms (its DNS listener is not open)`)), timeoutMs);
      sock.on('message', (reply) => {
        if (reply.length < 2 || reply.readUInt16BE(0) !== id) return;
        clearTimeout(timer);
        try {
          resolve(decodeProbeReply(reply));
        } catch (err) {
          reject(err);
        }
      });
      sock.send(query, DNS_PORT, EMBEDDED_DNS_ADDRESS);
    });
  } finally {
    sock.close();
  }
}
