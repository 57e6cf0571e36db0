// IPv4 arithmetic for overlay subnets: parsing, containment, overlap, and the MAC Docker derives
// from a container address. Pure; numbers are unsigned 32-bit.
import { NetdValidationError } from './errors.js';

const OCTETS = 4;
const MAX_PREFIX = 32;
const OCTET_PATTERN = /^(0|[1-9]\d{0,2})$/;
/** Docker's container MAC: locally administered 02:42 followed by the IPv4 address. */
const CONTAINER_MAC_PREFIX = [0x02, 0x42] as const;
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export interface Cidr {
  /** The address as written (host bits may be set, e.g. a task address 10.0.1.5/24). */
  readonly address: number;
  readonly prefixLen: number;
  /** Network address (host bits cleared). */
  readonly network: number;
}

export function parseIpv4(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== OCTETS) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET_PATTERN.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (MAX_PREFIX - prefixLen)) >>> 0;
}

export function parseCidr(text: string, what = 'CIDR'): Cidr {
  const [addr, len, ...rest] = typeof text === 'string' ? text.split('/') : [];
  const address = addr === undefined ? undefined : parseIpv4(addr);
  const prefixLen = len !== undefined && /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (address === undefined || rest.length > 0 || !(prefixLen >= 0 && prefixLen <= MAX_PREFIX)) {
    throw new NetdValidationError('E_INVALID_CIDR', `${what} ${JSON.stringify(text)} is not an IPv4 CIDR like 10.0.1.0/24`);
  }
  return { address, prefixLen, network: (address & maskOf(prefixLen)) >>> 0 };
}

export function formatCidr(c: Pick<Cidr, 'address' | 'prefixLen'>): string {
  return `${formatIpv4(c.address)}/${c.prefixLen}`;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefixLen)) >>> 0;
}

export function contains(subnet: Cidr, address: number): boolean {
  return ((address & maskOf(subnet.prefixLen)) >>> 0) === subnet.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const shorter = Math.min(a.prefixLen, b.prefixLen);
  return ((a.network & maskOf(shorter)) >>> 0) === ((b.network & maskOf(shorter)) >>> 0);
}

/** 02:42:<the four address bytes>, as Docker gives every container. */
export function containerMac(address: number): string {
  return [...CONTAINER_MAC_PREFIX, address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':');
}

export function normalizeMac(text: string): string | undefined {
  const m = typeof text === 'string' ? text.toLowerCase() : '';
  return MAC_PATTERN.test(m) ? m : undefined;
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function macFromBytes(b: Uint8Array): string {
  // Without an array per call: a reconcile reads 20,000 of them at 10,000 endpoints.
  let out = '';
  for (let i = 0; i < b.length; i++) out += i === 0 ? HEX_BYTE[b[i]!] : `:${HEX_BYTE[b[i]!]}`;
  return out;
}

export function ipv4Bytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function ipv4FromBytes(b: Uint8Array): string {
  return b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : '';
}

/** containerMac for an address in text form; undefined when it is not IPv4. */
export function containerMacOf(ip: string): string | undefined {
  const n = parseIpv4(ip);
  return n === undefined ? undefined : containerMac(n);
}
