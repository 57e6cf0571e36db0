// The IPVS load balancer, as Docker's: per namespace, one fwmark IPVS service per service key
// (wrr, masquerade toward the backends), nftables marks the traffic to balance and SNATs what
// IPVS sends to the subnet, and the IPVS sysctls Docker sets. Driven over generic netlink from a
// socket opened inside the namespace (ipvs-codec.ts has the wire format).
//
// Why each piece:
// - fwmarks, not address:port services: one IPVS service covers a VIP on every port and
//   protocol plus the routing-mesh ports, as Docker's do. berth numbers its marks from 0x1000
//   (Docker's counter starts at 256), inside a 4096-mark block, so it recognises its own IPVS
//   services by their mark and never touches anyone else's.
// - Restarts keep the marks: the nftables table carries a never-jumped-to chain `keys` holding
//   one rule per service, `meta mark <mark> comment "berth-key:<sha256(key), 16 hex>"`. The
//   first apply in a namespace after a restart reads it back (a hash, so any key fits the
//   comment's 128 bytes without quoting), so a restart neither renumbers services nor resets
//   connections. A kernel service with a berth mark the table does not name is an orphan and
//   goes.
// - IPVS sees requests only at LOCAL_IN/LOCAL_OUT: the VIPs must be local addresses of the
//   namespace. The overlay plane puts them on br0 (OverlayDataPlane.setLoadBalancer); this
//   backend does not manage addresses.
// - SNAT: with net.ipv4.vs.conntrack=1 IPVS keeps conntrack's tuple up to date, so netfilter's
//   nat sees the balanced packets in postrouting, still carrying the mark; berth matches its
//   mark block and the subnet (Docker matches `-m ipvs --ipvs`, which nftables lacks).
// - Order of one apply: IPVS additions and weight changes, then the nftables table, then IPVS
//   removals — so a marked packet always finds its IPVS service. Each IPVS step is one datagram
//   (more only past 64 KiB of requests).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { netlinkTransact, openNetlinkInNetns } from '../../native/index.js';
import { NetdError, NetdValidationError } from '../errors.js';
import { contains, formatIpv4, parseCidr, parseIpv4 } from '../ipv4.js';
import { runNft } from '../nft.js';
import {
  AF_INET,
  NETLINK_GENERIC,
  delDestRequest,
  delServiceRequest,
  dumpDestsRequest,
  dumpServicesRequest,
  failures,
  getFamilyRequest,
  newDestRequest,
  newServiceRequest,
  parseDests,
  parseFamilyId,
  parseServices,
  setConfigRequest,
  setDestRequest,
  splitMessages,
  type NetlinkFailure,
} from './ipvs-codec.js';
import {
  DEFAULT_LB_TIMEOUTS,
  type LbPort,
  type LbTimeouts,
  type LoadBalancerSpec,
  type VipBackend,
  type VipBackendOptions,
  type VipBackendStatus,
} from './types.js';

const execFileAsync = promisify(execFile);

export const NFT_TABLE = 'berth-vip';
/** berth's fwmark block: MARK_FIRST .. MARK_FIRST + MARK_COUNT - 1, recognisable by MARK_MASK. */
export const MARK_FIRST = 0x1000;
export const MARK_COUNT = 0x1000;
export const MARK_MASK = 0xfffff000;
const KEY_COMMENT_PREFIX = 'berth-key:';
const KEY_HASH_CHARS = 16;
const MAX_PORT = 65535;
const MAX_WEIGHT = 65535;
/** Per datagram, as netd/overlay's rtnetlink batches: the acks of this many bytes of requests fit the receive buffer easily. */
const MAX_DATAGRAM_BYTES = 64 * 1024;
const ERRNO_FAMILY_MISSING = new Set(['ENOENT']);
/** Docker's tweaks of its load-balancer namespaces (libnetwork osl ApplyOSTweaks and fwMarker), and forwarding for the replies. */
const SYSCTLS: readonly string[] = [
  'net.ipv4.vs.conntrack=1',
  'net.ipv4.vs.conn_reuse_mode=0',
  'net.ipv4.vs.expire_nodest_conn=1',
  'net.ipv4.vs.expire_quiescent_template=1',
  'net.ipv4.ip_forward=1',
];
const SELF_NETNS = '/proc/self/ns/net';

// ---- validation and rendering (pure) ----

interface NormalizedService {
  key: string;
  vip: number | undefined;
  ports: ReadonlyArray<{ protocol: 'tcp' | 'udp'; port: number }>;
  /** backend IPv4 → weight */
  backends: ReadonlyMap<number, number>;
}

export interface NormalizedSpec {
  netnsPath: string;
  source: number;
  subnet: string;
  services: readonly NormalizedService[];
}

function invalid(code: 'E_INVALID_ADDRESS' | 'E_INVALID_PORT' | 'E_INVALID_OPTION' | 'E_PORT_CONFLICT', spec: { netnsPath?: unknown }, why: string): NetdValidationError {
  return new NetdValidationError(code, `load balancer spec for ${String(spec.netnsPath)}: ${why}`);
}

/** Checks the whole spec; throws NetdValidationError naming the first problem. */
export function normalizeSpec(spec: LoadBalancerSpec): NormalizedSpec {
  if (typeof spec?.netnsPath !== 'string' || spec.netnsPath === '' || spec.netnsPath.includes('\0')) {
    throw invalid('E_INVALID_OPTION', spec ?? {}, 'netnsPath must be a non-empty path such as /var/run/netns/NAME');
  }
  const source = parseIpv4(spec.sourceAddress);
  if (source === undefined) throw invalid('E_INVALID_ADDRESS', spec, `sourceAddress ${JSON.stringify(spec.sourceAddress)} is not an IPv4 address`);
  const cidr = parseCidr(spec.subnet, `load balancer spec for ${spec.netnsPath}: subnet`);
  if (!Array.isArray(spec.services)) throw invalid('E_INVALID_OPTION', spec, 'services must be an array');
  if (spec.services.length > MARK_COUNT) throw invalid('E_INVALID_OPTION', spec, `at most ${MARK_COUNT} services per namespace, got ${spec.services.length}`);
  const keys = new Set<string>();
  const vips = new Map<number, string>();
  const ports = new Map<string, string>();
  const services: NormalizedService[] = [];
  for (const s of spec.services) {
    if (typeof s?.key !== 'string' || s.key === '') throw invalid('E_INVALID_OPTION', spec, `service key ${JSON.stringify(s?.key)} must be a non-empty string`);
    const where = `service ${JSON.stringify(s.key)}`;
    if (keys.has(s.key)) throw invalid('E_INVALID_OPTION', spec, `${where} appears twice`);
    keys.add(s.key);
    let vip: number | undefined;
    if (s.vip !== undefined) {
      vip = parseIpv4(s.vip);
      if (vip === undefined) throw invalid('E_INVALID_ADDRESS', spec, `${where}: vip ${JSON.stringify(s.vip)} is not an IPv4 address (no prefix)`);
      const other = vips.get(vip);
      if (other !== undefined) throw invalid('E_INVALID_ADDRESS', spec, `${where}: vip ${s.vip} is also service ${JSON.stringify(other)}'s`);
      vips.set(vip, s.key);
    }
    if (!Array.isArray(s.ports)) throw invalid('E_INVALID_PORT', spec, `${where}: ports must be an array`);
    for (const p of s.ports) {
      if (p?.protocol !== 'tcp' && p?.protocol !== 'udp') throw invalid('E_INVALID_PORT', spec, `${where}: protocol ${JSON.stringify(p?.protocol)} must be tcp or udp`);
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > MAX_PORT) throw invalid('E_INVALID_PORT', spec, `${where}: port ${JSON.stringify(p.port)} must be an integer in 1..${MAX_PORT}`);
      const id = `${p.port}/${p.protocol}`;
      const other = ports.get(id);
      if (other !== undefined) throw invalid('E_PORT_CONFLICT', spec, `${where}: port ${id} is also published by service ${JSON.stringify(other)}`);
      ports.set(id, s.key);
    }
    if (!Array.isArray(s.backends)) throw invalid('E_INVALID_OPTION', spec, `${where}: backends must be an array`);
    const backends = new Map<number, number>();
    for (const b of s.backends) {
      const ip = parseIpv4(b?.ip);
      if (ip === undefined) throw invalid('E_INVALID_ADDRESS', spec, `${where}: backend ip ${JSON.stringify(b?.ip)} is not an IPv4 address (no prefix)`);
      if (!contains(cidr, ip)) throw invalid('E_INVALID_ADDRESS', spec, `${where}: backend ${b.ip} is outside the subnet ${spec.subnet}`);
      if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > MAX_WEIGHT) throw invalid('E_INVALID_OPTION', spec, `${where}: backend ${b.ip} weight ${JSON.stringify(b.weight)} must be an integer in 0..${MAX_WEIGHT}`);
      if (backends.has(ip)) throw invalid('E_INVALID_ADDRESS', spec, `${where}: backend ${b.ip} appears twice`);
      backends.set(ip, b.weight);
    }
    services.push({ key: s.key, vip, ports: s.ports.map((p: LbPort) => ({ protocol: p.protocol, port: p.port })), backends });
  }
  return { netnsPath: spec.netnsPath, source, subnet: `${formatIpv4(cidr.network)}/${cidr.prefixLen}`, services };
}

export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, KEY_HASH_CHARS);
}

function hexMark(mark: number): string {
  return `0x${mark.toString(16).padStart(8, '0')}`;
}

/**
 * The nftables script that replaces berth's table in one transaction (creating it first makes
 * the delete valid when there is none). Port rules come before VIP rules, so a VIP's own mark
 * wins for a port published by another service, as Docker's INPUT rule does over PREROUTING.
 */
export function renderNftTable(spec: NormalizedSpec, marks: ReadonlyMap<string, number>): string {
  const keys: string[] = [];
  const portRules: string[] = [];
  const vipRules: string[] = [];
  for (const s of spec.services) {
    const mark = hexMark(marks.get(s.key)!);
    keys.push(`    meta mark ${mark} comment "${KEY_COMMENT_PREFIX}${keyHash(s.key)}"`);
    for (const p of s.ports) portRules.push(`    fib daddr type local ${p.protocol} dport ${p.port} meta mark set ${mark}`);
    if (s.vip !== undefined) vipRules.push(`    ip daddr ${formatIpv4(s.vip)} meta mark set ${mark}`);
  }
  return [
    `table ip ${NFT_TABLE} {}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    '  chain keys {',
    ...keys,
    '  }',
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    ...portRules,
    ...vipRules,
    '  }',
    '  chain output {',
    '    type route hook output priority mangle; policy accept;',
    ...vipRules,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    meta mark & ${hexMark(MARK_MASK)} == ${hexMark(MARK_FIRST)} ip daddr ${spec.subnet} snat to ${formatIpv4(spec.source)}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** key-hash → mark, from `nft list chain ip berth-vip keys` output. */
export function parseKeyMarks(listing: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`meta mark (0x[0-9a-f]+) comment "${KEY_COMMENT_PREFIX}([0-9a-f]{${KEY_HASH_CHARS}})"`, 'g');
  for (const m of listing.matchAll(re)) {
    const mark = Number(m[1]);
    if (isBerthMark(mark)) out.set(m[2]!, mark);
  }
  return out;
}

export function isBerthMark(mark: number | undefined): mark is number {
  return mark !== undefined && ((mark & MARK_MASK) >>> 0) === MARK_FIRST;
}

/** Keeps the marks still wanted, gives new keys the lowest free marks (avoiding `taken`). */
export function assignMarks(keys: readonly string[], current: ReadonlyMap<string, number>, taken: ReadonlySet<number>): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>(taken);
  for (const k of keys) {
    const m = current.get(k);
    if (m !== undefined) {
      out.set(k, m);
      used.add(m);
    }
  }
  let next = MARK_FIRST;
  for (const k of keys) {
    if (out.has(k)) continue;
    while (used.has(next)) next++;
    if (next >= MARK_FIRST + MARK_COUNT) throw new NetdError('E_IPVS', `no free fwmark left in berth's block ${hexMark(MARK_FIRST)}..${hexMark(MARK_FIRST + MARK_COUNT - 1)}`);
    out.set(k, next);
    used.add(next);
  }
  return out;
}

// ---- the kernel side ----

/** One request of a datagram: its bytes, its sequence number, and what it does (for errors). */
interface SeqOp {
  buf: Buffer;
  seq: number;
  what: string;
}

interface NamespaceState {
  netnsPath: string;
  fd: number;
  family: number;
  marks: Map<string, number>;
  /** The table last written; undefined until this process wrote it. */
  nftScript: string | undefined;
  services: number;
  backends: number;
}

function ipvsError(netnsPath: string, what: string, f: NetlinkFailure): NetdError {
  return new NetdError('E_IPVS', `IPVS in ${netnsPath}: ${what} failed: ${f.errnoName}${f.message ? ` (${f.message})` : ''}`);
}

/** Whether the kernel's "IPVS" generic-netlink family resolves in the namespace (this process's by default). */
export async function ipvsAvailable(netnsPath?: string): Promise<boolean> {
  let fd: number | undefined;
  try {
    fd = openNetlinkInNetns(netnsPath ?? SELF_NETNS, NETLINK_GENERIC);
    const messages = splitMessages(await netlinkTransact(fd, getFamilyRequest(1)));
    return failures(messages).length === 0 && parseFamilyId(messages) !== undefined;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class IpvsBackend implements VipBackend {
  readonly kind = 'ipvs' as const;
  private readonly timeouts: LbTimeouts;
  private readonly namespaces = new Map<string, NamespaceState>();
  /** One operation at a time per namespace: a netlink fd must not run two transactions at once. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private seq = 1;
  private applies = 0;
  private lastApplyMs: number | undefined;
  private closed = false;

  constructor(opts: VipBackendOptions = {}) {
    this.timeouts = { ...DEFAULT_LB_TIMEOUTS, ...opts.timeouts };
    for (const [k, v] of Object.entries(this.timeouts)) {
      if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new NetdValidationError('E_INVALID_OPTION', `IPVS timeout ${k} must be a positive integer of seconds, got ${JSON.stringify(v)}`);
    }
  }

  async apply(spec: LoadBalancerSpec): Promise<void> {
    const norm = normalizeSpec(spec);
    if (this.closed) throw new NetdError('E_CLOSED', 'the IPVS backend is closed');
    await this.serialized(norm.netnsPath, async () => {
      const t0 = Date.now();
      const st = await this.state(norm.netnsPath);
      await this.reconcile(st, norm);
      this.applies++;
      this.lastApplyMs = Date.now() - t0;
    });
  }

  async remove(netnsPath: string): Promise<void> {
    if (typeof netnsPath !== 'string' || netnsPath === '') throw new NetdValidationError('E_INVALID_OPTION', 'remove: netnsPath must be a non-empty path');
    await this.serialized(netnsPath, async () => {
      const known = this.namespaces.get(netnsPath);
      this.namespaces.delete(netnsPath);
      try {
        if (!existsSync(netnsPath)) return;
        const st = known ?? (await this.open(netnsPath, false));
        if (st) {
          try {
            const ops: SeqOp[] = [];
            for (const [mark, dests] of await this.dumpBerthServices(st)) {
              for (const addr of dests.keys()) ops.push(this.op((s) => delDestRequest(st.family, s, mark, addr), `delete backend ${formatIpv4(addr)} of fwmark ${hexMark(mark)}`));
              ops.push(this.op((s) => delServiceRequest(st.family, s, mark), `delete service fwmark ${hexMark(mark)}`));
            }
            await this.send(st, ops);
          } finally {
            if (!known) closeSync(st.fd);
          }
        }
        await runNft(`table ip ${NFT_TABLE} {}\ndelete table ip ${NFT_TABLE}\n`, { netnsPath });
      } finally {
        if (known) closeSync(known.fd);
      }
    });
  }

  status(): VipBackendStatus {
    let services = 0;
    let backends = 0;
    for (const st of this.namespaces.values()) {
      services += st.services;
      backends += st.backends;
    }
    return { kind: this.kind, namespaces: this.namespaces.size, services, backends, applies: this.applies, lastApplyMs: this.lastApplyMs };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.locks.values()]);
    for (const st of this.namespaces.values()) closeSync(st.fd);
    this.namespaces.clear();
  }

  // ---- internals ----

  private serialized<T>(netnsPath: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(netnsPath) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(netnsPath, tail);
    void tail.then(() => {
      if (this.locks.get(netnsPath) === tail) this.locks.delete(netnsPath);
    });
    return run;
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq % 0xfffffffe) + 1;
    return s;
  }

  private op(build: (seq: number) => Buffer, what: string): SeqOp {
    const seq = this.nextSeq();
    return { buf: build(seq), what, seq };
  }

  /** The namespace's state, opened (socket, family, sysctls, timeouts, marks) on first use. */
  private async state(netnsPath: string): Promise<NamespaceState> {
    const known = this.namespaces.get(netnsPath);
    if (known) return known;
    const st = (await this.open(netnsPath, true))!;
    try {
      await this.setUp(st);
    } catch (err) {
      closeSync(st.fd);
      throw err;
    }
    this.namespaces.set(netnsPath, st);
    return st;
  }

  /** Opens a socket and resolves the IPVS family; when IPVS is absent, throws (or, !required, returns undefined). */
  private async open(netnsPath: string, required: boolean): Promise<NamespaceState | undefined> {
    let fd: number;
    try {
      fd = openNetlinkInNetns(netnsPath, NETLINK_GENERIC);
    } catch (err) {
      throw new NetdError('E_IPVS', `IPVS in ${netnsPath}: cannot open a generic-netlink socket: ${(err as Error).message}`, { cause: err });
    }
    try {
      const seq = this.nextSeq();
      const messages = splitMessages(await netlinkTransact(fd, getFamilyRequest(seq)));
      const failed = failures(messages)[0];
      const family = parseFamilyId(messages);
      if (failed || family === undefined) {
        if (!required && (failed === undefined || ERRNO_FAMILY_MISSING.has(failed.errnoName))) {
          closeSync(fd);
          return undefined;
        }
        throw new NetdError(
          'E_IPVS',
          `IPVS is not available in ${netnsPath}: resolving the "IPVS" generic-netlink family failed (${failed?.errnoName ?? 'no family id in the reply'}); ` +
            'the kernel needs CONFIG_IP_VS and the ip_vs module loaded (modprobe ip_vs), or use the nftables VIP backend',
          { temporary: false },
        );
      }
      return { netnsPath, fd, family, marks: new Map(), nftScript: undefined, services: 0, backends: 0 };
    } catch (err) {
      closeSync(fd);
      if (err instanceof NetdError) throw err;
      throw new NetdError('E_IPVS', `IPVS in ${netnsPath}: resolving the generic-netlink family failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Once per namespace: Docker's sysctls, the timeouts, and the marks a previous run left in the nftables table. */
  private async setUp(st: NamespaceState): Promise<void> {
    try {
      await execFileAsync('nsenter', [`--net=${st.netnsPath}`, 'sysctl', '-q', '-w', ...SYSCTLS]);
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim();
      throw new NetdError('E_IPVS', `IPVS in ${st.netnsPath}: setting sysctls ${SYSCTLS.join(' ')} failed: ${stderr}`, { cause: err });
    }
    const t = this.timeouts;
    await this.send(st, [this.op((s) => setConfigRequest(st.family, s, t), `set timeouts tcp ${t.tcp}s tcpfin ${t.tcpFin}s udp ${t.udp}s`)]);
    let listing = '';
    try {
      listing = (await runNft('', { netnsPath: st.netnsPath, args: ['list', 'chain', 'ip', NFT_TABLE, 'keys'] })).stdout;
    } catch {
      // no table yet: a first start
    }
    st.marks = new Map([...parseKeyMarks(listing)].map(([hash, mark]) => [`#${hash}`, mark]));
  }

  /**
   * Sends changes in as few datagrams as fit MAX_DATAGRAM_BYTES, in order (a service before its
   * backends); throws the first refusal, naming the others.
   */
  private async send(st: NamespaceState, ops: readonly SeqOp[]): Promise<void> {
    const chunks: SeqOp[][] = [];
    let bytes = Infinity;
    for (const o of ops) {
      if (bytes + o.buf.length > MAX_DATAGRAM_BYTES) {
        chunks.push([]);
        bytes = 0;
      }
      chunks.at(-1)!.push(o);
      bytes += o.buf.length;
    }
    const bySeq = new Map(ops.map((o) => [o.seq, o.what]));
    const failed: NetlinkFailure[] = [];
    for (const chunk of chunks) {
      let replies: Buffer[];
      try {
        replies = await netlinkTransact(st.fd, Buffer.concat(chunk.map((o) => o.buf)));
      } catch (err) {
        throw new NetdError('E_IPVS', `IPVS in ${st.netnsPath}: ${chunk[0]!.what}${chunk.length > 1 ? ` (and ${chunk.length - 1} more changes)` : ''}: ${(err as Error).message}`, { cause: err });
      }
      failed.push(...failures(splitMessages(replies)).filter((f) => bySeq.has(f.seq)));
    }
    if (failed.length === 0) return;
    const first = ipvsError(st.netnsPath, bySeq.get(failed[0]!.seq)!, failed[0]!);
    if (failed.length === 1) throw first;
    throw new NetdError('E_IPVS', `${first.message}; and ${failed.length - 1} more: ${failed.slice(1, 4).map((f) => `${bySeq.get(f.seq)!}: ${f.errnoName}`).join('; ')}`);
  }

  private async dump(st: NamespaceState, build: (seq: number) => Buffer, what: string): Promise<ReturnType<typeof splitMessages>> {
    const seq = this.nextSeq();
    let replies: Buffer[];
    try {
      replies = await netlinkTransact(st.fd, build(seq));
    } catch (err) {
      throw new NetdError('E_IPVS', `IPVS in ${st.netnsPath}: ${what}: ${(err as Error).message}`, { cause: err });
    }
    const messages = splitMessages(replies);
    const failed = failures(messages).find((f) => f.seq === seq);
    if (failed) throw ipvsError(st.netnsPath, what, failed);
    return messages;
  }

  /** berth's services in the kernel: mark → (backend → weight). */
  private async dumpBerthServices(st: NamespaceState): Promise<Map<number, Map<number, number>>> {
    const services = parseServices(await this.dump(st, (s) => dumpServicesRequest(st.family, s), 'list services'), st.family);
    const out = new Map<number, Map<number, number>>();
    for (const svc of services) {
      if (svc.af !== AF_INET || !isBerthMark(svc.fwmark)) continue;
      const mark = svc.fwmark;
      const dests = parseDests(await this.dump(st, (s) => dumpDestsRequest(st.family, s, mark), `list backends of fwmark ${hexMark(mark)}`), st.family);
      out.set(mark, new Map(dests.map((d) => [d.addr, d.weight ?? 0])));
    }
    return out;
  }

  private async reconcile(st: NamespaceState, spec: NormalizedSpec): Promise<void> {
    // Marks recovered from the table are keyed by hash until the first spec names their keys.
    const current = new Map<string, number>();
    for (const s of spec.services) {
      const m = st.marks.get(s.key) ?? st.marks.get(`#${keyHash(s.key)}`);
      if (m !== undefined) current.set(s.key, m);
    }
    const kernel = await this.dumpBerthServices(st);
    const wantedKeys = spec.services.map((s) => s.key);
    // A mark the kernel still has for a service that is going must not be reused in this apply.
    const kept = new Set(current.values());
    const orphans = new Set([...kernel.keys()].filter((m) => !kept.has(m)));
    const marks = assignMarks(wantedKeys, current, orphans);

    const adds: SeqOp[] = [];
    const removals: SeqOp[] = [];
    const wantedMarks = new Set<number>();
    for (const s of spec.services) {
      const mark = marks.get(s.key)!;
      wantedMarks.add(mark);
      const have = kernel.get(mark);
      const svc = `service ${JSON.stringify(s.key)} (fwmark ${hexMark(mark)})`;
      if (!have) adds.push(this.op((q) => newServiceRequest(st.family, q, mark), `create ${svc}`));
      for (const [ip, weight] of s.backends) {
        const old = have?.get(ip);
        if (old === undefined) adds.push(this.op((q) => newDestRequest(st.family, q, mark, ip, weight), `add backend ${formatIpv4(ip)} weight ${weight} to ${svc}`));
        else if (old !== weight) adds.push(this.op((q) => setDestRequest(st.family, q, mark, ip, weight), `set backend ${formatIpv4(ip)} of ${svc} to weight ${weight}`));
      }
      for (const ip of have?.keys() ?? []) {
        if (!s.backends.has(ip)) removals.push(this.op((q) => delDestRequest(st.family, q, mark, ip), `remove backend ${formatIpv4(ip)} from ${svc}`));
      }
    }
    for (const [mark, dests] of kernel) {
      if (wantedMarks.has(mark)) continue;
      for (const ip of dests.keys()) removals.push(this.op((q) => delDestRequest(st.family, q, mark, ip), `remove backend ${formatIpv4(ip)} from removed service fwmark ${hexMark(mark)}`));
      removals.push(this.op((q) => delServiceRequest(st.family, q, mark), `delete removed service fwmark ${hexMark(mark)}`));
    }

    st.marks = marks;
    await this.send(st, adds);
    const script = renderNftTable(spec, marks);
    if (script !== st.nftScript) {
      st.nftScript = undefined;
      await runNft(script, { netnsPath: st.netnsPath });
      st.nftScript = script;
    }
    await this.send(st, removals);
    st.services = spec.services.length;
    st.backends = spec.services.reduce((n, s) => n + s.backends.size, 0);
  }
}
