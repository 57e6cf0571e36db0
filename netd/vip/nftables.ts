// The VIP load balancer on nftables (for kernels without IPVS, like the CI machines): per
// namespace one table of berth's own, `table ip berth-vip`, replaced whole on the first apply
// and changed by small diffs after that, each change one `nft -f -` batch (atomic).
//
// Layout, shaped by what nft 1.0.6 and the kernel cost (measured at 10,000 services):
// - `map vips` (VIP → goto b_<k>) and `map ports` (proto . port → goto b_<k>) in the nat
//   prerouting (-100) and output (-100; nft 1.0.6 rejects `dstnat` there) chains; ports only for
//   packets to the namespace's own addresses (`fib daddr type local`), loopback excluded.
// - A fixed number of bucket chains b_<k> (BUCKETS): service number n lives in bucket
//   n % BUCKETS, one rule per VIP or port: `ip daddr <vip> ct mark set numgen inc mod <slots>
//   offset <base> goto lb`. Its own numgen counter gives each service strict round robin.
// - `map slots` (mark → backend) and one chain `lb`: `dnat ip to ct mark map @slots`. Weight w
//   = w slots (smooth weighted order), weight 0 = none; no slot at all → `goto refuse` (RST /
//   ICMP port unreachable).
// Why not one chain per service with an anonymous map (the obvious shape): nft fetches every
// chain and set of the namespace before any change (≈2 µs each: 20–40 ms per change at 10,000
// services) and the kernel names anonymous sets by a scan of the table (a full sync of 10,000
// took 75 s). Why not per-service rules looking up one named map: binding a map to a rule walks
// all its elements (100,000 here). So: a constant number of chains and sets, rules without maps,
// one rule that reads the slot map, and a change rewrites one bucket (~n/BUCKETS rules) plus
// the map elements that moved.
//
// The ct mark carries the slot (BALANCED_MARK | n << 12 | slot); connections with that bit are
// the ones this table balanced: SNAT (postrouting) touches only those, so nothing else in the
// namespace is rewritten. Established connections never pass the nat chains again, so neither
// element nor rule changes disturb them.
//
// Timeouts: `ct timeout` objects (tcp established / fin states, udp), set in `lb` on the first
// packet, while the connection is still unconfirmed — the kernel ignores a timeout set later.
// Checked on this kernel (6.18) with nft 1.0.6; per-connection, so the namespace's
// nf_conntrack sysctls, and connections berth does not balance, keep the kernel's defaults.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NetdError, NetdValidationError, type NetdErrorCode } from '../errors.js';
import { contains, parseCidr } from '../ipv4.js';
import { runNft } from '../nft.js';
import { DEFAULT_LB_TIMEOUTS, type LbBackend, type LbTimeouts, type LoadBalancerSpec, type VipBackend, type VipBackendOptions, type VipBackendStatus } from './types.js';

export const NFT_TABLE = 'berth-vip';
/** Bucket chains: per-change cost grows with chains (nft's cache) and with rules per bucket. */
export const BUCKETS = 256;
/** ct mark bit of connections this table balanced. */
export const BALANCED_MARK = 0x8000_0000;
const SLOT_BITS = 12;
/** Slots per service: weights are reduced by their GCD and scaled down past this. */
export const MAX_SLOTS = 1 << SLOT_BITS;
/** Service numbers fill the 19 bits between the balanced bit and the slot. */
export const MAX_SERVICES = (1 << (31 - SLOT_BITS)) - 1;
const MAX_WEIGHT = 65_535;
const MAX_PORT = 65_535;
/** conntrack's own default for UDP flows that never got a reply. */
const UDP_UNREPLIED_MAX_S = 30;
/** Elements per `add element` line in a full sync. */
const ELEMENTS_PER_LINE = 2_000;
const SYSCTLS = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0'];
const SYSCTL_TIMEOUT_MS = 10_000;

// ---- the pure part: validation, slots, rendering, diff -------------------------------------

/** One service as programmed: its number, what routes to it, its slots in order. */
export interface RenderedService {
  key: string;
  number: number;
  vip: string | undefined;
  /** `tcp . 80` */
  ports: string[];
  /** Backend address per slot; empty = refuse. */
  slots: string[];
  /** The spec's backends as validated (a copy): an apply with the same ones skips them. */
  backends: readonly LbBackend[];
}

/** What a namespace holds: the input to the renderer and the diff. */
export interface NftLbState {
  sourceAddress: string;
  subnet: string;
  timeouts: LbTimeouts;
  services: Map<string, RenderedService>;
}

/** parseIpv4's rules (four decimal octets, no leading zeros) without its allocations: the spec
 *  of 10,000 services carries 100,000 backend addresses, checked on every apply. */
function ipv4(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (n * 256 + octet) >>> 0;
}

function sameBackends(a: readonly LbBackend[], b: readonly LbBackend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.ip !== b[i]!.ip || a[i]!.weight !== b[i]!.weight) return false;
  return true;
}

function invalid(code: NetdErrorCode, spec: { netnsPath?: unknown }, why: string): NetdValidationError {
  return new NetdValidationError(code, `load balancer spec for ${String(spec.netnsPath)}: ${why}`);
}

/** Checks everything in `spec`; throws NetdValidationError on the first problem. Backends equal
 *  to those `previous` holds for the same service and subnet were checked then and are skipped. */
export function validateLbSpec(spec: LoadBalancerSpec, previous?: NftLbState): void {
  if (typeof spec !== 'object' || spec === null) throw new NetdValidationError('E_INVALID_OPTION', 'load balancer spec must be an object');
  if (typeof spec.netnsPath !== 'string' || !spec.netnsPath.startsWith('/')) throw invalid('E_INVALID_OPTION', spec, 'netnsPath must be an absolute path');
  const subnet = parseCidr(spec.subnet, `subnet of ${spec.netnsPath}`);
  const source = ipv4(spec.sourceAddress);
  const known = previous?.subnet === spec.subnet ? previous.services : undefined;
  if (source === undefined) throw invalid('E_INVALID_ADDRESS', spec, `sourceAddress ${JSON.stringify(spec.sourceAddress)} is not an IPv4 address`);
  if (!contains(subnet, source)) throw invalid('E_INVALID_ADDRESS', spec, `sourceAddress ${spec.sourceAddress} is outside the subnet ${spec.subnet}`);
  if (!Array.isArray(spec.services)) throw invalid('E_INVALID_OPTION', spec, 'services must be an array');
  if (spec.services.length > MAX_SERVICES) throw invalid('E_INVALID_OPTION', spec, `at most ${MAX_SERVICES} services per namespace, got ${spec.services.length}`);
  const keys = new Set<string>();
  const vips = new Map<string, string>();
  const ports = new Map<string, string>();
  for (const s of spec.services) {
    if (typeof s?.key !== 'string' || s.key === '') throw invalid('E_INVALID_OPTION', spec, 'every service needs a non-empty key');
    const what = `service ${JSON.stringify(s.key)}`;
    if (keys.has(s.key)) throw invalid('E_INVALID_OPTION', spec, `${what} appears twice`);
    keys.add(s.key);
    if (s.vip !== undefined) {
      if (ipv4(s.vip) === undefined) throw invalid('E_INVALID_ADDRESS', spec, `${what}: VIP ${JSON.stringify(s.vip)} is not an IPv4 address`);
      if (s.vip === spec.sourceAddress) throw invalid('E_ADDRESS_IN_USE', spec, `${what}: VIP ${s.vip} is the load balancer's source address`);
      const other = vips.get(s.vip);
      if (other !== undefined) throw invalid('E_ADDRESS_IN_USE', spec, `${what}: VIP ${s.vip} is already service ${JSON.stringify(other)}'s`);
      vips.set(s.vip, s.key);
    }
    if (!Array.isArray(s.ports)) throw invalid('E_INVALID_PORT', spec, `${what}: ports must be an array`);
    for (const p of s.ports) {
      if (p?.protocol !== 'tcp' && p?.protocol !== 'udp') throw invalid('E_INVALID_PORT', spec, `${what}: protocol ${JSON.stringify(p?.protocol)} is not tcp or udp`);
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > MAX_PORT) throw invalid('E_INVALID_PORT', spec, `${what}: port ${JSON.stringify(p.port)} is not 1..${MAX_PORT}`);
      const id = `${p.protocol}/${p.port}`;
      const other = ports.get(id);
      if (other !== undefined) throw invalid('E_PORT_CONFLICT', spec, `${what}: ${id} is already published by service ${JSON.stringify(other)}`);
      ports.set(id, s.key);
    }
    if (!Array.isArray(s.backends)) throw invalid('E_INVALID_ENDPOINT', spec, `${what}: backends must be an array`);
    const before = known?.get(s.key)?.backends;
    if (before && sameBackends(before, s.backends)) continue;
    const ips = new Set<string>();
    let live = 0;
    for (const b of s.backends) {
      const ip = ipv4(b?.ip);
      if (ip === undefined) throw invalid('E_INVALID_ADDRESS', spec, `${what}: backend ${JSON.stringify(b?.ip)} is not an IPv4 address`);
      if (!contains(subnet, ip)) throw invalid('E_INVALID_ADDRESS', spec, `${what}: backend ${b.ip} is outside the subnet ${spec.subnet}`);
      if (ips.has(b.ip)) throw invalid('E_INVALID_ENDPOINT', spec, `${what}: backend ${b.ip} appears twice`);
      ips.add(b.ip);
      if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > MAX_WEIGHT) throw invalid('E_INVALID_ENDPOINT', spec, `${what}: backend ${b.ip} weight ${JSON.stringify(b.weight)} is not an integer 0..${MAX_WEIGHT}`);
      if (b.weight > 0) live++;
    }
    if (live > MAX_SLOTS) throw invalid('E_INVALID_ENDPOINT', spec, `${what}: at most ${MAX_SLOTS} backends with weight > 0, got ${live}`);
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The slot order of a service: weight w → w slots (after dividing by the weights' GCD, and
 * scaled down proportionally, at least one each, past MAX_SLOTS), interleaved as smooth weighted
 * round robin does (3:1 → a a b a, not a a a b). Weight 0 → no slot.
 */
export function slotsFor(backends: ReadonlyArray<{ ip: string; weight: number }>): string[] {
  const live = backends.filter((b) => b.weight > 0);
  if (live.length === 0) return [];
  const g = live.reduce((acc, b) => gcd(acc, b.weight), 0);
  let weights = live.map((b) => b.weight / g);
  const sum = weights.reduce((a, w) => a + w, 0);
  if (sum > MAX_SLOTS) {
    const budget = MAX_SLOTS - live.length;
    weights = weights.map((w) => 1 + Math.floor((w * budget) / sum));
  }
  const total = weights.reduce((a, w) => a + w, 0);
  const current = weights.map(() => 0);
  const out: string[] = [];
  for (let i = 0; i < total; i++) {
    let best = 0;
    for (let j = 0; j < weights.length; j++) {
      current[j]! += weights[j]!;
      if (current[j]! > current[best]!) best = j;
    }
    current[best]! -= total;
    out.push(live[best]!.ip);
  }
  return out;
}

export function resolveTimeouts(partial: Partial<LbTimeouts> = {}): LbTimeouts {
  const t = { ...DEFAULT_LB_TIMEOUTS, ...partial };
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fff_ffff) throw new NetdValidationError('E_INVALID_OPTION', `nftables load balancer timeout ${k} must be a positive integer of seconds, got ${JSON.stringify(v)}`);
  }
  return t;
}

/**
 * The state `spec` asks for, keeping the numbers `previous` gave to services that stay (their
 * chains, marks and slot keys stay put). Validate the spec first.
 */
export function planState(spec: LoadBalancerSpec, timeouts: LbTimeouts, previous?: NftLbState): NftLbState {
  const used = new Set<number>();
  for (const s of spec.services) {
    const n = previous?.services.get(s.key)?.number;
    if (n !== undefined) used.add(n);
  }
  let next = 1;
  const services = new Map<string, RenderedService>();
  for (const s of spec.services) {
    let number = previous?.services.get(s.key)?.number;
    if (number === undefined) {
      while (used.has(next)) next++;
      number = next;
      used.add(number);
    }
    const before = previous?.services.get(s.key);
    const same = before !== undefined && sameBackends(before.backends, s.backends);
    services.set(s.key, {
      key: s.key,
      number,
      vip: s.vip,
      ports: s.ports.length === 0 ? NO_PORTS : s.ports.map((p) => `${p.protocol} . ${p.port}`).sort(),
      slots: same ? before.slots : slotsFor(s.backends),
      backends: same ? before.backends : s.backends.map((b) => ({ ip: b.ip, weight: b.weight })),
    });
  }
  return { sourceAddress: spec.sourceAddress, subnet: spec.subnet, timeouts, services };
}

const NO_PORTS: string[] = [];

function samePorts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function bucketOf(n: number): number {
  return n % BUCKETS;
}

function markBase(n: number): number {
  return (BALANCED_MARK | (n << SLOT_BITS)) >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** The rules of one service in its bucket chain (without `add rule …` around them). */
function serviceRules(s: RenderedService): { vip: string[]; ports: string[] } {
  const action = s.slots.length === 0 ? 'goto refuse' : `ct mark set numgen inc mod ${s.slots.length} offset ${hex(markBase(s.number))} goto lb`;
  return {
    vip: s.vip === undefined ? [] : [`ip daddr ${s.vip} ${action}`],
    ports: s.ports.map((p) => {
      const [proto, port] = p.split(' . ');
      return `meta l4proto ${proto} th dport ${port} ${action}`;
    }),
  };
}

/** A bucket's rules: VIP rules first, so a VIP's packet never meets another service's port rule. */
function bucketRules(services: Iterable<RenderedService>): string[] {
  const vip: string[] = [];
  const ports: string[] = [];
  for (const s of [...services].sort((a, b) => a.number - b.number)) {
    const r = serviceRules(s);
    vip.push(...r.vip);
    ports.push(...r.ports);
  }
  return [...vip, ...ports];
}

function slotElements(s: RenderedService): string[] {
  const base = markBase(s.number);
  return s.slots.map((ip, i) => `${hex(base + i)} : ${ip}`);
}

function postRules(state: NftLbState): string[] {
  const m = hex(BALANCED_MARK);
  return [`ct mark & ${m} == ${m} ip daddr ${state.subnet} snat ip to ${state.sourceAddress}`];
}

function timeoutObjects(t: LbTimeouts): string[] {
  return [
    `ct timeout lb-tcp { protocol tcp; l3proto ip; policy = { established: ${t.tcp}, fin_wait: ${t.tcpFin}, close_wait: ${t.tcpFin}, last_ack: ${t.tcpFin}, time_wait: ${t.tcpFin} }; }`,
    `ct timeout lb-udp { protocol udp; l3proto ip; policy = { unreplied: ${Math.min(t.udp, UDP_UNREPLIED_MAX_S)}, replied: ${t.udp} }; }`,
  ];
}

function elementLines(verb: 'add' | 'delete', set: string, elements: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_LINE) {
    out.push(`${verb} element ip ${NFT_TABLE} ${set} { ${elements.slice(i, i + ELEMENTS_PER_LINE).join(', ')} }`);
  }
  return out;
}

const T = NFT_TABLE;

/** The whole table, replacing whatever is there, as one batch. */
export function renderFull(state: NftLbState): string {
  const dispatch = ['ip daddr vmap @vips', 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @ports'];
  const byBucket = new Map<number, RenderedService[]>();
  for (const s of state.services.values()) {
    const k = bucketOf(s.number);
    byBucket.set(k, [...(byBucket.get(k) ?? []), s]);
  }
  const lines = [
    `table ip ${T} {}`,
    `delete table ip ${T}`,
    `table ip ${T} {`,
    ...timeoutObjects(state.timeouts).map((l) => `  ${l}`),
    '  map vips { type ipv4_addr : verdict; }',
    '  map ports { type inet_proto . inet_service : verdict; }',
    '  map slots { type mark : ipv4_addr; }',
    `  chain prerouting { type nat hook prerouting priority dstnat; policy accept;`,
    ...dispatch.map((r) => `    ${r}`),
    '  }',
    '  chain output { type nat hook output priority -100; policy accept;',
    ...dispatch.map((r) => `    ${r}`),
    '  }',
    '  chain postrouting { type nat hook postrouting priority srcnat; policy accept;',
    ...postRules(state).map((r) => `    ${r}`),
    '  }',
    '  chain lb {',
    '    meta l4proto tcp ct timeout set "lb-tcp"',
    '    meta l4proto udp ct timeout set "lb-udp"',
    '    dnat ip to ct mark map @slots',
    '  }',
    '  chain refuse {',
    '    meta l4proto tcp reject with tcp reset',
    '    reject',
    '  }',
  ];
  for (let k = 0; k < BUCKETS; k++) {
    const rules = bucketRules(byBucket.get(k) ?? []);
    lines.push(rules.length === 0 ? `  chain b_${k} { }` : `  chain b_${k} {\n${rules.map((r) => `    ${r}`).join('\n')}\n  }`);
  }
  lines.push('}');
  const services = [...state.services.values()];
  lines.push(...elementLines('add', 'slots', services.flatMap(slotElements)));
  lines.push(...elementLines('add', 'vips', services.flatMap((s) => (s.vip === undefined ? [] : [`${s.vip} : goto b_${bucketOf(s.number)}`]))));
  lines.push(...elementLines('add', 'ports', services.flatMap((s) => s.ports.map((p) => `${p} : goto b_${bucketOf(s.number)}`))));
  return `${lines.join('\n')}\n`;
}

/**
 * The batch that turns `from` into `to` (the same namespace), touching only what changed:
 * removed map elements first, then rewritten buckets and the SNAT rule, then added elements.
 * Empty when nothing changed. Timeouts are fixed per backend, so they never differ.
 */
export function renderDiff(from: NftLbState, to: NftLbState): string {
  const del = { vips: [] as string[], ports: [] as string[], slots: [] as string[] };
  const add = { vips: [] as string[], ports: [] as string[], slots: [] as string[] };
  const buckets = new Set<number>();
  for (const old of from.services.values()) {
    const cur = to.services.get(old.key);
    if (cur?.number === old.number) continue;
    buckets.add(bucketOf(old.number));
    if (old.vip !== undefined) del.vips.push(old.vip);
    del.ports.push(...old.ports);
    del.slots.push(...old.slots.map((_, i) => hex(markBase(old.number) + i)));
  }
  for (const cur of to.services.values()) {
    const old = from.services.get(cur.key);
    const k = bucketOf(cur.number);
    if (old?.number !== cur.number) {
      buckets.add(k);
      if (cur.vip !== undefined) add.vips.push(`${cur.vip} : goto b_${k}`);
      add.ports.push(...cur.ports.map((p) => `${p} : goto b_${k}`));
      add.slots.push(...slotElements(cur));
      continue;
    }
    const portsSame = samePorts(old.ports, cur.ports);
    if (old.slots === cur.slots && old.vip === cur.vip && portsSame) continue;
    if (old.vip !== cur.vip || !portsSame || old.slots.length !== cur.slots.length) buckets.add(k);
    if (old.vip !== cur.vip) {
      if (old.vip !== undefined) del.vips.push(old.vip);
      if (cur.vip !== undefined) add.vips.push(`${cur.vip} : goto b_${k}`);
    }
    const oldPorts = new Set(old.ports);
    const curPorts = new Set(cur.ports);
    del.ports.push(...old.ports.filter((p) => !curPorts.has(p)));
    add.ports.push(...cur.ports.filter((p) => !oldPorts.has(p)).map((p) => `${p} : goto b_${k}`));
    const base = markBase(cur.number);
    const n = Math.max(old.slots.length, cur.slots.length);
    for (let i = 0; i < n; i++) {
      if (old.slots[i] === cur.slots[i]) continue;
      if (old.slots[i] !== undefined) del.slots.push(hex(base + i));
      if (cur.slots[i] !== undefined) add.slots.push(`${hex(base + i)} : ${cur.slots[i]}`);
    }
  }
  const lines: string[] = [];
  for (const set of ['vips', 'ports', 'slots'] as const) lines.push(...elementLines('delete', set, del[set]));
  const members = new Map<number, RenderedService[]>();
  for (const s of to.services.values()) {
    const k = bucketOf(s.number);
    if (buckets.has(k)) members.set(k, [...(members.get(k) ?? []), s]);
  }
  for (const k of [...buckets].sort((a, b) => a - b)) {
    lines.push(`flush chain ip ${T} b_${k}`);
    for (const r of bucketRules(members.get(k) ?? [])) lines.push(`add rule ip ${T} b_${k} ${r}`);
  }
  if (from.sourceAddress !== to.sourceAddress || from.subnet !== to.subnet) {
    lines.push(`flush chain ip ${T} postrouting`);
    for (const r of postRules(to)) lines.push(`add rule ip ${T} postrouting ${r}`);
  }
  for (const set of ['vips', 'ports', 'slots'] as const) lines.push(...elementLines('add', set, add[set]));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

// ---- the effectful shell -------------------------------------------------------------------

function sysctlInNetns(netnsPath: string, settings: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, 'sysctl', '-q', '-w', ...settings], { stdio: ['ignore', 'ignore', 'pipe'], timeout: SYSCTL_TIMEOUT_MS });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new NetdError('E_NFT', `cannot run nsenter sysctl in ${netnsPath}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new NetdError('E_NFT', `sysctl ${settings.join(' ')} in ${netnsPath} failed (exit ${String(code)}): ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}

interface Namespace {
  /** What the kernel holds, as far as this process knows; undefined = rewrite the table. */
  state: NftLbState | undefined;
  sysctlsDone: boolean;
  /** Serializes applies and removes of this namespace. */
  queue: Promise<unknown>;
}

export class NftablesBackend implements VipBackend {
  readonly kind = 'nftables' as const;
  private readonly timeouts: LbTimeouts;
  private readonly namespaces = new Map<string, Namespace>();
  private applies = 0;
  private lastApplyMs: number | undefined;
  private closed = false;

  constructor(opts: VipBackendOptions = {}) {
    this.timeouts = resolveTimeouts(opts.timeouts);
  }

  apply(spec: LoadBalancerSpec): Promise<void> {
    if (this.closed) return Promise.reject(new NetdError('E_CLOSED', 'the nftables load balancer is closed'));
    if (typeof spec?.netnsPath !== 'string' || !spec.netnsPath.startsWith('/')) {
      try {
        validateLbSpec(spec);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    const ns = this.namespaceOf(spec.netnsPath);
    return this.enqueue(ns, async () => {
      const started = performance.now();
      // Checked against what this namespace holds, inside the queue (an earlier apply may still
      // be running); nothing has been changed yet when it throws.
      validateLbSpec(spec, ns.state);
      this.applies++;
      if (!ns.sysctlsDone) {
        await sysctlInNetns(spec.netnsPath, SYSCTLS);
        ns.sysctlsDone = true;
      }
      const target = planState(spec, this.timeouts, ns.state);
      if (ns.state) {
        const script = renderDiff(ns.state, target);
        try {
          if (script !== '') await runNft(script, { netnsPath: spec.netnsPath });
          ns.state = target;
        } catch {
          // What the kernel holds is not what we remembered (someone flushed the table?): the
          // whole table again, from scratch.
          ns.state = undefined;
        }
      }
      if (!ns.state) {
        await runNft(renderFull(target), { netnsPath: spec.netnsPath });
        ns.state = target;
      }
      this.lastApplyMs = performance.now() - started;
    });
  }

  remove(netnsPath: string): Promise<void> {
    if (typeof netnsPath !== 'string' || netnsPath === '') return Promise.reject(new NetdValidationError('E_INVALID_OPTION', 'remove: netnsPath must be a non-empty path'));
    const ns = this.namespaceOf(netnsPath);
    const current: Promise<void> = this.enqueue(ns, async () => {
      ns.state = undefined;
      if (existsSync(netnsPath)) await runNft(`table ip ${T} {}\ndelete table ip ${T}\n`, { netnsPath });
      if (ns.queue === current) this.namespaces.delete(netnsPath);
    });
    return current;
  }

  status(): VipBackendStatus {
    let services = 0;
    let backends = 0;
    for (const ns of this.namespaces.values()) {
      for (const s of ns.state?.services.values() ?? []) {
        services++;
        backends += s.backends.length;
      }
    }
    return { kind: this.kind, namespaces: [...this.namespaces.values()].filter((n) => n.state).length, services, backends, applies: this.applies, lastApplyMs: this.lastApplyMs };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.namespaces.values()].map((n) => n.queue.catch(() => undefined)));
  }

  private namespaceOf(netnsPath: string): Namespace {
    let ns = this.namespaces.get(netnsPath);
    if (!ns) this.namespaces.set(netnsPath, (ns = { state: undefined, sysctlsDone: false, queue: Promise.resolve() }));
    return ns;
  }

  private enqueue(ns: Namespace, fn: () => Promise<void>): Promise<void> {
    const run = ns.queue.catch(() => undefined).then(fn);
    ns.queue = run;
    return run;
  }
}
