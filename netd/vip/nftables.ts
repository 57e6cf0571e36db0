// The VIP load balancer on nftables (for kernels without IPVS, like the CI machines): per
// namespace one table of berth's own, `table ip berth-vip`, built whole on the first apply and
// changed by small diffs after that, every change one atomic transaction. The common change —
// backends of existing services — is one nfnetlink batch on a socket kept open in the namespace
// (nfnetlink.ts: ~0.2 ms, flat in the number of services); the rest (services, VIPs, ports, the
// source) is one `nft -f -` batch (4–6 ms of spawn, plus nft reading every chain and set).
//
// Layout, shaped by what nft 1.0.6 and the kernel cost (measured at 10,000 services):
// - `map vips` (VIP → goto b_<k>) and `map ports` (proto . port → goto b_<k>) in the nat
//   prerouting (-100) and output (-100; nft 1.0.6 rejects `dstnat` there) chains; ports only for
//   packets to the namespace's own addresses (`fib daddr type local`), loopback excluded.
// - A fixed number of bucket chains b_<k> (BUCKETS): service number n lives in bucket
//   n % BUCKETS, one rule per VIP or port: `ip daddr <vip> ct mark set numgen inc mod <slots>
//   offset <base>`. Its own numgen counter gives each service strict round robin. The rules
//   carry no verdict: after the VIP rules `ct mark & BALANCED == BALANCED goto lb` takes a VIP's
//   packet out (so it never meets a port rule), after the port rules `goto lb`. Why: a rule with
//   a goto makes the kernel re-validate every jump of the table at commit, walking all 10,000
//   vmap targets (2 ms at 10,000 services, 0.3 ms at 1,000); a rule without one commits in
//   0.07 ms whatever the size. So a change of a service's slot count replaces its rules by
//   handle (NLM_F_REPLACE keeps the handle) and nothing else.
// - The slot map (mark → backend) and one chain `lb`: `dnat ip to ct mark map @slots`. Weight w
//   = w slots (smooth weighted order), weight 0 = none; no slot at all → the rules set
//   REFUSE_MARK (`numgen inc mod 1`, still no verdict) and `lb` sends it to `refuse` (RST / ICMP
//   port unreachable).
// Why not one chain per service with an anonymous map (the obvious shape): nft fetches every
// chain and set of the namespace before any change (≈2 µs each: 20–40 ms per change at 10,000
// services) and the kernel names anonymous sets by a scan of the table (a full sync of 10,000
// took 75 s). Why not per-service rules looking up one named map: binding a map to a rule walks
// all its elements (100,000 here). So: a constant number of chains and sets, rules without maps,
// one rule that reads the slot map.
//
// A full sync costs what nft takes to parse it; 60% of that is the 100,000 slot elements. So
// with netlink the slots go first, by netlink, into a second map (`slots` / `slots2`, whichever
// the table does not use) that nothing reads yet; then one `nft -f` batch deletes everything
// else in the table by name and builds it again pointing `lb` at the new map: still one atomic
// switch for traffic (≈0.5 s instead of ≈0.8 s at 10,000 × 10).
//
// Applies whose spec names its changed services (`changed`) cost O(those): an index (who holds
// each VIP and port, bucket members, numbers in use, positions in the spec) replaces the walk,
// the check and the plan of the whole spec; without it, the whole spec is diffed.
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
import { closeSync, existsSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { netlinkTransact, openNetlinkInNetns } from '../../native/index.js';
import { NetdError, NetdValidationError, NetlinkOperationError, type NetdErrorCode } from '../errors.js';
import { contains, parseCidr } from '../ipv4.js';
import { runNft } from '../nft.js';
import { DEFAULT_LB_TIMEOUTS, type LbBackend, type LbService, type LbTimeouts, type LoadBalancerSpec, type VipBackend, type VipBackendOptions, type VipBackendStatus } from './types.js';
import { decodeAck, decodeRule, decodeTableObject, dumpRequest, getRulesRequest, ipv4Bytes, markBytes, NETLINK_NETFILTER, NftBatch, portBytes, splitMessages, type NftExpr, type NlMessage } from './nfnetlink.js';

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
/** Elements per netlink message: the element list is one attribute, its length a u16. */
const ELEMENTS_PER_MESSAGE = 2_000;
/** The slot map's two names: a full sync fills the one the table does not use, then switches. */
const SLOT_SETS = ['slots', 'slots2'];
const SYSCTLS = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0'];
const SYSCTL_TIMEOUT_MS = 10_000;
const ENOENT = 2;

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
  /** The slot map's name (`slots` unless a full sync staged it as `slots2`, see stageSlots). */
  slotsSet?: string;
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

/** Who holds a VIP or a published port, as far as a check can see. */
interface Claims {
  get(id: string): string | undefined;
  set(id: string, key: string): unknown;
}

/** The namespace-wide fields of `spec`; returns the parsed subnet. */
function validateHeader(spec: LoadBalancerSpec): ReturnType<typeof parseCidr> {
  if (typeof spec !== 'object' || spec === null) throw new NetdValidationError('E_INVALID_OPTION', 'load balancer spec must be an object');
  if (typeof spec.netnsPath !== 'string' || !spec.netnsPath.startsWith('/')) throw invalid('E_INVALID_OPTION', spec, 'netnsPath must be an absolute path');
  const subnet = parseCidr(spec.subnet, `subnet of ${spec.netnsPath}`);
  const source = ipv4(spec.sourceAddress);
  if (source === undefined) throw invalid('E_INVALID_ADDRESS', spec, `sourceAddress ${JSON.stringify(spec.sourceAddress)} is not an IPv4 address`);
  if (!contains(subnet, source)) throw invalid('E_INVALID_ADDRESS', spec, `sourceAddress ${spec.sourceAddress} is outside the subnet ${spec.subnet}`);
  if (!Array.isArray(spec.services)) throw invalid('E_INVALID_OPTION', spec, 'services must be an array');
  if (spec.services.length > MAX_SERVICES) throw invalid('E_INVALID_OPTION', spec, `at most ${MAX_SERVICES} services per namespace, got ${spec.services.length}`);
  return subnet;
}

/** One service (its key already checked for presence and uniqueness); records its VIP and
 *  ports in the claims. Backends equal to `before` were checked then and are skipped. */
function validateService(spec: LoadBalancerSpec, subnet: ReturnType<typeof parseCidr>, s: LbService, vips: Claims, ports: Claims, before: readonly LbBackend[] | undefined): void {
  const what = `service ${JSON.stringify(s.key)}`;
  if (s.vip !== undefined) {
    if (ipv4(s.vip) === undefined) throw invalid('E_INVALID_ADDRESS', spec, `${what}: VIP ${JSON.stringify(s.vip)} is not an IPv4 address`);
    if (s.vip === spec.sourceAddress) throw invalid('E_ADDRESS_IN_USE', spec, `${what}: VIP ${s.vip} is the load balancer's source address`);
    const other = vips.get(s.vip);
    if (other !== undefined) throw invalid('E_ADDRESS_IN_USE', spec, `${what}: VIP ${s.vip} is already service ${JSON.stringify(other)}'s`);
  }
  if (!Array.isArray(s.ports)) throw invalid('E_INVALID_PORT', spec, `${what}: ports must be an array`);
  const own = new Set<string>();
  for (const p of s.ports) {
    if (p?.protocol !== 'tcp' && p?.protocol !== 'udp') throw invalid('E_INVALID_PORT', spec, `${what}: protocol ${JSON.stringify(p?.protocol)} is not tcp or udp`);
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > MAX_PORT) throw invalid('E_INVALID_PORT', spec, `${what}: port ${JSON.stringify(p.port)} is not 1..${MAX_PORT}`);
    const id = `${p.protocol}/${p.port}`;
    const other = own.has(id) ? s.key : ports.get(id);
    if (other !== undefined) throw invalid('E_PORT_CONFLICT', spec, `${what}: ${id} is already published by service ${JSON.stringify(other)}`);
    own.add(id);
  }
  if (!Array.isArray(s.backends)) throw invalid('E_INVALID_ENDPOINT', spec, `${what}: backends must be an array`);
  if (!before || !sameBackends(before, s.backends)) {
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
  if (s.vip !== undefined) vips.set(s.vip, s.key);
  for (const id of own) ports.set(id, s.key);
}

/** Checks everything in `spec`; throws NetdValidationError on the first problem. Backends equal
 *  to those `previous` holds for the same service and subnet were checked then and are skipped. */
export function validateLbSpec(spec: LoadBalancerSpec, previous?: NftLbState): void {
  const subnet = validateHeader(spec);
  const known = previous?.subnet === spec.subnet ? previous.services : undefined;
  const keys = new Set<string>();
  const vips = new Map<string, string>();
  const ports = new Map<string, string>();
  for (const s of spec.services) {
    if (typeof s?.key !== 'string' || s.key === '') throw invalid('E_INVALID_OPTION', spec, 'every service needs a non-empty key');
    if (keys.has(s.key)) throw invalid('E_INVALID_OPTION', spec, `service ${JSON.stringify(s.key)} appears twice`);
    keys.add(s.key);
    validateService(spec, subnet, s, vips, ports, known?.get(s.key)?.backends);
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

function renderService(s: LbService, number: number, before: RenderedService | undefined): RenderedService {
  const same = before !== undefined && sameBackends(before.backends, s.backends);
  return {
    key: s.key,
    number,
    vip: s.vip,
    ports: s.ports.length === 0 ? NO_PORTS : s.ports.map((p) => `${p.protocol} . ${p.port}`).sort(),
    slots: same ? before.slots : slotsFor(s.backends),
    backends: same ? before.backends : s.backends.map((b) => ({ ip: b.ip, weight: b.weight })),
  };
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
    const before = previous?.services.get(s.key);
    let number = before?.number;
    if (number === undefined) {
      while (used.has(next)) next++;
      number = next;
      used.add(number);
    }
    services.set(s.key, renderService(s, number, before));
  }
  return { sourceAddress: spec.sourceAddress, subnet: spec.subnet, timeouts, services, ...(previous?.slotsSet ? { slotsSet: previous.slotsSet } : {}) };
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

/** `tcp . 80` → `tcp/80`, the validator's name for a published port. */
function portId(p: string): string {
  return p.replace(' . ', '/');
}

// ---- the index: O(changed) applies ---------------------------------------------------------

/**
 * What a namespace's state is indexed by, so an apply that names its changed services checks
 * and plans only those: who holds each VIP and port, which services share a bucket, the numbers
 * in use, and where each service sat in the last spec's array.
 */
export interface LbIndex {
  vips: Map<string, string>;
  /** `tcp/80` → key */
  ports: Map<string, string>;
  buckets: Map<number, Set<string>>;
  numbers: Set<number>;
  /** No number below this is free. */
  lowestFree: number;
  /** key → index in the last spec's services (a hint: checked before use). */
  position: Map<string, number>;
}

export function indexState(state: NftLbState, spec?: LoadBalancerSpec): LbIndex {
  const index: LbIndex = { vips: new Map(), ports: new Map(), buckets: new Map(), numbers: new Set(), lowestFree: 1, position: new Map() };
  for (const s of state.services.values()) indexAdd(index, s);
  if (spec) spec.services.forEach((s, i) => index.position.set(s.key, i));
  return index;
}

function indexAdd(index: LbIndex, s: RenderedService): void {
  if (s.vip !== undefined) index.vips.set(s.vip, s.key);
  for (const p of s.ports) index.ports.set(portId(p), s.key);
  const k = bucketOf(s.number);
  let members = index.buckets.get(k);
  if (!members) index.buckets.set(k, (members = new Set()));
  members.add(s.key);
  index.numbers.add(s.number);
}

function indexDelete(index: LbIndex, s: RenderedService): void {
  if (s.vip !== undefined && index.vips.get(s.vip) === s.key) index.vips.delete(s.vip);
  for (const p of s.ports) if (index.ports.get(portId(p)) === s.key) index.ports.delete(portId(p));
  index.buckets.get(bucketOf(s.number))?.delete(s.key);
  index.numbers.delete(s.number);
  index.lowestFree = Math.min(index.lowestFree, s.number);
}

/** Applies a planned change to the state and its index (after the kernel took it). */
export function commitUpdates(state: NftLbState, index: LbIndex, updates: ReadonlyMap<string, RenderedService | undefined>): void {
  for (const [key, cur] of updates) {
    const old = state.services.get(key);
    if (old) indexDelete(index, old);
    if (cur) {
      state.services.set(key, cur);
      indexAdd(index, cur);
    } else {
      state.services.delete(key);
    }
  }
}

function findService(spec: LoadBalancerSpec, index: LbIndex, key: string): LbService | undefined {
  const at = index.position.get(key);
  if (at !== undefined && spec.services[at]?.key === key) return spec.services[at];
  // The array moved since the last apply (a service came or went): look again, once.
  index.position.clear();
  spec.services.forEach((s, i) => index.position.set(s?.key, i));
  const again = index.position.get(key);
  return again === undefined ? undefined : spec.services[again];
}

/**
 * For an apply whose caller named the services that may have changed (`spec.changed`): checks
 * and plans only those, against `state` and its index. Returns key → the service as it will be
 * (undefined = removed), or undefined when the spec does not fit the promise (another source or
 * subnet, a length that does not add up): then the full check and diff run. Throws
 * NetdValidationError like validateLbSpec for a bad changed service.
 */
export function planChanged(spec: LoadBalancerSpec, state: NftLbState, index: LbIndex): Map<string, RenderedService | undefined> | undefined {
  const changed = spec.changed;
  if (!changed || typeof changed[Symbol.iterator] !== 'function') return undefined;
  if (spec.sourceAddress !== state.sourceAddress || spec.subnet !== state.subnet || !Array.isArray(spec.services)) return undefined;
  const subnet = parseCidr(spec.subnet, `subnet of ${spec.netnsPath}`);
  const found = new Map<string, LbService | undefined>();
  let expected = state.services.size;
  for (const key of changed) {
    if (typeof key !== 'string' || key === '') throw invalid('E_INVALID_OPTION', spec, 'every service needs a non-empty key');
    const s = findService(spec, index, key);
    found.set(key, s);
    if (s && !state.services.has(key)) expected++;
    if (!s && state.services.has(key)) expected--;
  }
  if (spec.services.length !== expected) return undefined;
  if (expected > MAX_SERVICES) throw invalid('E_INVALID_OPTION', spec, `at most ${MAX_SERVICES} services per namespace, got ${expected}`);
  // Claims of unchanged services come from the index; changed ones claim afresh.
  const view = (held: Map<string, string>): Claims => {
    const local = new Map<string, string>();
    return {
      get: (id) => {
        const mine = local.get(id);
        if (mine !== undefined) return mine;
        const owner = held.get(id);
        return owner !== undefined && !changed.has(owner) ? owner : undefined;
      },
      set: (id, key) => local.set(id, key),
    };
  };
  const vips = view(index.vips);
  const ports = view(index.ports);
  const updates = new Map<string, RenderedService | undefined>();
  const taken = new Set<number>();
  for (const [key, s] of found) {
    const before = state.services.get(key);
    if (!s) {
      updates.set(key, undefined);
      continue;
    }
    validateService(spec, subnet, s, vips, ports, before?.backends);
    let number = before?.number;
    if (number === undefined) {
      while (index.numbers.has(index.lowestFree) || taken.has(index.lowestFree)) index.lowestFree++;
      number = index.lowestFree;
      taken.add(number);
    }
    updates.set(key, renderService(s, number, before));
  }
  return updates;
}

// ---- rules: nft text and netlink expressions ------------------------------------------------

/** What a service's rules set when it has no live backend: `lb` sends it to `refuse`. Number 0
 *  is no service's. */
export const REFUSE_MARK = BALANCED_MARK;

/** The ct mark a service's rules set: the next of its slots, or REFUSE_MARK. */
function markAction(s: RenderedService): string {
  return s.slots.length === 0 ? `ct mark set numgen inc mod 1 offset ${hex(REFUSE_MARK)}` : `ct mark set numgen inc mod ${s.slots.length} offset ${hex(markBase(s.number))}`;
}

/** The rules of one service in its bucket chain (without `add rule …` around them). */
function serviceRules(s: RenderedService): { vip: string[]; ports: string[] } {
  const action = markAction(s);
  return {
    vip: s.vip === undefined ? [] : [`ip daddr ${s.vip} ${action}`],
    ports: s.ports.map((p) => {
      const [proto, port] = p.split(' . ');
      return `meta l4proto ${proto} th dport ${port} ${action}`;
    }),
  };
}

function byNumber(a: RenderedService, b: RenderedService): number {
  return a.number - b.number;
}

/** Between a bucket's VIP and port rules: a VIP's packet, marked, leaves before any port rule. */
const BUCKET_VIPS_DONE = `ct mark & ${hex(BALANCED_MARK)} == ${hex(BALANCED_MARK)} goto lb`;
/** Last in a bucket: the port packet, marked, to the balancer. */
const BUCKET_END = 'goto lb';

/** A bucket's rules: VIP rules first, then (after BUCKET_VIPS_DONE) port rules, then BUCKET_END. */
function bucketRules(services: Iterable<RenderedService>): string[] {
  const vip: string[] = [];
  const ports: string[] = [];
  for (const s of [...services].sort(byNumber)) {
    const r = serviceRules(s);
    vip.push(...r.vip);
    ports.push(...r.ports);
  }
  if (vip.length + ports.length === 0) return [];
  return [...vip, ...(ports.length > 0 ? [BUCKET_VIPS_DONE, ...ports] : []), BUCKET_END];
}

const PROTOCOL_NUMBERS: Record<string, number> = { tcp: 6, udp: 17 };

/** serviceRules as nf_tables expressions, in the same order: the VIP rule, then one per port. */
export function serviceRuleExprs(s: RenderedService): NftExpr[][] {
  const action: NftExpr[] = [{ kind: 'numgen-inc', modulus: Math.max(1, s.slots.length), offset: s.slots.length === 0 ? REFUSE_MARK : markBase(s.number) }, { kind: 'ct-mark-set' }];
  const rules: NftExpr[][] = [];
  if (s.vip !== undefined) rules.push([{ kind: 'payload', base: 'network', offset: 16, len: 4 }, { kind: 'cmp-eq', data: ipv4Bytes(s.vip) }, ...action]);
  for (const p of s.ports) {
    const [proto, port] = p.split(' . ');
    rules.push([{ kind: 'meta-l4proto' }, { kind: 'cmp-eq', data: Uint8Array.of(PROTOCOL_NUMBERS[proto!]!) }, { kind: 'payload', base: 'transport', offset: 2, len: 2 }, { kind: 'cmp-eq', data: portBytes(Number(port)) }, ...action]);
  }
  return rules;
}

/** A bucket chain's rules in chain order (bucketRules' order): a service's rule (its index in
 *  serviceRuleExprs), or one of the two fixed rules, which never change with backends. */
export type BucketRule = { service: RenderedService; rule: number } | { fixed: 'vips-done' | 'end' };

export function bucketLayout(members: Iterable<RenderedService>): BucketRule[] {
  const sorted = [...members].sort(byNumber);
  const vips: BucketRule[] = [];
  const ports: BucketRule[] = [];
  for (const s of sorted) {
    if (s.vip !== undefined) vips.push({ service: s, rule: 0 });
    s.ports.forEach((_, i) => ports.push({ service: s, rule: i + (s.vip === undefined ? 0 : 1) }));
  }
  if (vips.length + ports.length === 0) return [];
  return [...vips, ...(ports.length > 0 ? [{ fixed: 'vips-done' as const }, ...ports] : []), { fixed: 'end' }];
}

function sameExprs(a: readonly NftExpr[], b: readonly NftExpr[]): boolean {
  return a.length === b.length && a.every((e, i) => JSON.stringify(e, exprJson) === JSON.stringify(b[i], exprJson));
}

function exprJson(_: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
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

/** What a table holds besides the slot map staged for it: deleted by name before the table is
 *  built again in place (renderFull). Objects by nft's keyword for their type. */
export interface TableContents {
  chains: string[];
  sets: Array<{ name: string; map: boolean }>;
  objects: Array<{ name: string; keyword: string }>;
}

/** nf_tables object types (NFT_OBJECT_*) a table of berth's may hold, by nft's keyword. */
export const OBJECT_KEYWORDS: Readonly<Record<number, string>> = { 1: 'counter', 2: 'quota', 4: 'limit', 7: 'ct timeout' };

/**
 * The whole table as one batch. Without `inPlace`, it replaces whatever is there (the table
 * deleted and made again, slot elements included). With it, the slot map `state.slotsSet` is
 * already in the table, filled (stageSlots): everything else — `inPlace` — is deleted and built
 * again around it, still one transaction.
 */
export function renderFull(state: NftLbState, inPlace?: TableContents): string {
  const slotsSet = state.slotsSet ?? 'slots';
  const dispatch = ['ip daddr vmap @vips', 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @ports'];
  const byBucket: RenderedService[][] = Array.from({ length: BUCKETS }, () => []);
  for (const s of state.services.values()) byBucket[bucketOf(s.number)]!.push(s);
  const head = inPlace
    ? [
        `flush table ip ${T}`,
        ...inPlace.sets.map((s) => `delete ${s.map ? 'map' : 'set'} ip ${T} ${s.name}`),
        ...inPlace.chains.map((c) => `delete chain ip ${T} ${c}`),
        ...inPlace.objects.map((o) => `delete ${o.keyword} ip ${T} ${o.name}`),
      ]
    : [`table ip ${T} {}`, `delete table ip ${T}`];
  const lines = [
    ...head,
    `table ip ${T} {`,
    ...timeoutObjects(state.timeouts).map((l) => `  ${l}`),
    '  map vips { type ipv4_addr : verdict; }',
    '  map ports { type inet_proto . inet_service : verdict; }',
    ...(inPlace ? [] : [`  map ${slotsSet} { type mark : ipv4_addr; }`]),
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
    `    ct mark ${hex(REFUSE_MARK)} goto refuse`,
    '    meta l4proto tcp ct timeout set "lb-tcp"',
    '    meta l4proto udp ct timeout set "lb-udp"',
    `    dnat ip to ct mark map @${slotsSet}`,
    '  }',
    '  chain refuse {',
    '    meta l4proto tcp reject with tcp reset',
    '    reject',
    '  }',
  ];
  for (let k = 0; k < BUCKETS; k++) {
    const rules = bucketRules(byBucket[k]!);
    lines.push(rules.length === 0 ? `  chain b_${k} { }` : `  chain b_${k} {\n    ${rules.join('\n    ')}\n  }`);
  }
  lines.push('}');
  // Slot marks in decimal: nft parses 100,000 of them ~10% faster than hex.
  const slots: string[] = [];
  const vips: string[] = [];
  const ports: string[] = [];
  for (const s of state.services.values()) {
    if (!inPlace) {
      const base = markBase(s.number);
      for (let i = 0; i < s.slots.length; i++) slots.push(`${base + i} : ${s.slots[i]}`);
    }
    const verdict = ` : goto b_${bucketOf(s.number)}`;
    if (s.vip !== undefined) vips.push(s.vip + verdict);
    for (const p of s.ports) ports.push(p + verdict);
  }
  lines.push(...elementLines('add', slotsSet, slots), ...elementLines('add', 'vips', vips), ...elementLines('add', 'ports', ports));
  return `${lines.join('\n')}\n`;
}

/** Every slot of `state` as [mark, IPv4 address as a number], for the netlink batch. */
export function slotEntries(state: NftLbState): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const s of state.services.values()) {
    const base = markBase(s.number);
    for (let i = 0; i < s.slots.length; i++) out.push([base + i, ipv4(s.slots[i])!]);
  }
  return out;
}

/** What turns one state into another, as element and rule changes. */
export interface LbChange {
  delVips: string[];
  delPorts: string[];
  /** Marks. */
  delSlots: number[];
  /** Element text (`10.0.1.1 : goto b_3`). */
  addVips: string[];
  addPorts: string[];
  addSlots: Array<[mark: number, ip: string]>;
  /** Buckets whose rules change shape: a service came, went, or moved its VIP or ports. */
  rewrite: Set<number>;
  /** Services whose rules keep their places and change only their action (the slot count). */
  resized: RenderedService[];
  /** The SNAT rule changes (another source address or subnet). */
  post: boolean;
}

function isEmpty(c: LbChange): boolean {
  return c.delVips.length + c.delPorts.length + c.delSlots.length + c.addVips.length + c.addPorts.length + c.addSlots.length + c.rewrite.size + c.resized.length === 0 && !c.post;
}

/** Whether the change is only slot elements and rule actions: what the netlink path sends. */
export function onlyBackends(c: LbChange): boolean {
  return c.delVips.length + c.delPorts.length + c.addVips.length + c.addPorts.length + c.rewrite.size === 0 && !c.post;
}

/**
 * The change for the services named by `keys` (any order, each once), `from` → `to(key)`
 * (undefined = gone). Two passes so that a service leaving frees its VIP, ports and marks before
 * another takes them.
 */
export function diffServices(from: ReadonlyMap<string, RenderedService>, keys: Iterable<string>, to: (key: string) => RenderedService | undefined): LbChange {
  const c: LbChange = { delVips: [], delPorts: [], delSlots: [], addVips: [], addPorts: [], addSlots: [], rewrite: new Set(), resized: [], post: false };
  const list = [...keys];
  for (const key of list) {
    const old = from.get(key);
    if (!old || to(key)?.number === old.number) continue;
    c.rewrite.add(bucketOf(old.number));
    if (old.vip !== undefined) c.delVips.push(old.vip);
    c.delPorts.push(...old.ports);
    const base = markBase(old.number);
    for (let i = 0; i < old.slots.length; i++) c.delSlots.push(base + i);
  }
  for (const key of list) {
    const cur = to(key);
    if (!cur) continue;
    const old = from.get(key);
    const k = bucketOf(cur.number);
    const base = markBase(cur.number);
    if (old?.number !== cur.number) {
      c.rewrite.add(k);
      if (cur.vip !== undefined) c.addVips.push(`${cur.vip} : goto b_${k}`);
      c.addPorts.push(...cur.ports.map((p) => `${p} : goto b_${k}`));
      for (let i = 0; i < cur.slots.length; i++) c.addSlots.push([base + i, cur.slots[i]!]);
      continue;
    }
    const portsSame = samePorts(old.ports, cur.ports);
    if (old.slots === cur.slots && old.vip === cur.vip && portsSame) continue;
    if (old.vip !== cur.vip || !portsSame) c.rewrite.add(k);
    else if (old.slots.length !== cur.slots.length) c.resized.push(cur);
    if (old.vip !== cur.vip) {
      if (old.vip !== undefined) c.delVips.push(old.vip);
      if (cur.vip !== undefined) c.addVips.push(`${cur.vip} : goto b_${k}`);
    }
    const oldPorts = new Set(old.ports);
    const curPorts = new Set(cur.ports);
    c.delPorts.push(...old.ports.filter((p) => !curPorts.has(p)));
    c.addPorts.push(...cur.ports.filter((p) => !oldPorts.has(p)).map((p) => `${p} : goto b_${k}`));
    const n = Math.max(old.slots.length, cur.slots.length);
    for (let i = 0; i < n; i++) {
      if (old.slots[i] === cur.slots[i]) continue;
      if (old.slots[i] !== undefined) c.delSlots.push(base + i);
      if (cur.slots[i] !== undefined) c.addSlots.push([base + i, cur.slots[i]!]);
    }
  }
  return c;
}

/** The change as one `nft -f` batch: removed elements first, then rewritten buckets (with
 *  `members(k)`, the bucket's services as they will be) and the SNAT rule, then added elements. */
export function renderChange(c: LbChange, members: (bucket: number) => Iterable<RenderedService>, to: NftLbState): string {
  if (isEmpty(c)) return '';
  const lines = [
    ...elementLines('delete', 'vips', c.delVips),
    ...elementLines('delete', 'ports', c.delPorts),
    ...elementLines('delete', to.slotsSet ?? 'slots', c.delSlots.map(hex)),
  ];
  const buckets = new Set([...c.rewrite, ...c.resized.map((s) => bucketOf(s.number))]);
  for (const k of [...buckets].sort((a, b) => a - b)) {
    lines.push(`flush chain ip ${T} b_${k}`);
    for (const r of bucketRules(members(k))) lines.push(`add rule ip ${T} b_${k} ${r}`);
  }
  if (c.post) {
    lines.push(`flush chain ip ${T} postrouting`);
    for (const r of postRules(to)) lines.push(`add rule ip ${T} postrouting ${r}`);
  }
  lines.push(...elementLines('add', 'vips', c.addVips), ...elementLines('add', 'ports', c.addPorts), ...elementLines('add', to.slotsSet ?? 'slots', c.addSlots.map(([m, ip]) => `${hex(m)} : ${ip}`)));
  return `${lines.join('\n')}\n`;
}

function statesDiffer(from: NftLbState, to: NftLbState): boolean {
  return from.sourceAddress !== to.sourceAddress || from.subnet !== to.subnet;
}

/**
 * The batch that turns `from` into `to` (the same namespace), touching only what changed:
 * removed map elements first, then rewritten buckets and the SNAT rule, then added elements.
 * Empty when nothing changed. Timeouts are fixed per backend, so they never differ.
 */
export function renderDiff(from: NftLbState, to: NftLbState): string {
  const keys = new Set([...from.services.keys(), ...to.services.keys()]);
  const c = diffServices(from.services, keys, (k) => to.services.get(k));
  c.post = statesDiffer(from, to);
  let byBucket: RenderedService[][] | undefined;
  return renderChange(
    c,
    (k) => {
      if (!byBucket) {
        byBucket = Array.from({ length: BUCKETS }, () => []);
        for (const s of to.services.values()) byBucket[bucketOf(s.number)]!.push(s);
      }
      return byBucket[k]!;
    },
    to,
  );
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

/** How backend-only changes reach the kernel: one nfnetlink batch (default), or `nft -f` like
 *  every other change (kept to measure one against the other). */
export type NftTransport = 'netlink' | 'nft';

export interface NftablesBackendOptions extends VipBackendOptions {
  transport?: NftTransport;
}

interface Namespace {
  /** What the kernel holds, as far as this process knows; undefined = rewrite the table. */
  state: NftLbState | undefined;
  index: LbIndex | undefined;
  sysctlsDone: boolean;
  /** Serializes applies and removes of this namespace. */
  queue: Promise<unknown>;
  /** NETLINK_NETFILTER socket inside the namespace, opened on first use. */
  fd: number | undefined;
  seq: number;
  /** Per bucket chain whose rules were read back: key → its rules' handles (serviceRuleExprs'
   *  order). A rewrite of the bucket by nft drops the entry. */
  handles: Map<number, Map<string, bigint[]>>;
}

export class NftablesBackend implements VipBackend {
  readonly kind = 'nftables' as const;
  private readonly timeouts: LbTimeouts;
  private readonly transport: NftTransport;
  private readonly namespaces = new Map<string, Namespace>();
  private applies = 0;
  private lastApplyMs: number | undefined;
  private closed = false;
  /** Kernel changes by the way they went: netlink batches, `nft -f` diffs, whole tables;
   *  netlink batches that failed (then sent again through nft), staged full syncs that failed
   *  (then done the plain way). */
  readonly sent = { netlink: 0, nft: 0, full: 0, netlinkFailed: 0, stagedFailed: 0 };

  constructor(opts: NftablesBackendOptions = {}) {
    this.timeouts = resolveTimeouts(opts.timeouts);
    this.transport = opts.transport ?? 'netlink';
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
      const updates = ns.state && ns.index ? planChanged(spec, ns.state, ns.index) : undefined;
      if (!updates) validateLbSpec(spec, ns.state);
      this.applies++;
      if (!ns.sysctlsDone) {
        await sysctlInNetns(spec.netnsPath, SYSCTLS);
        ns.sysctlsDone = true;
      }
      if (ns.state && ns.index && updates) {
        const { state, index } = ns;
        const change = diffServices(state.services, updates.keys(), (k) => updates.get(k));
        const members = (k: number): RenderedService[] => {
          const out: RenderedService[] = [];
          for (const key of index.buckets.get(k) ?? []) if (!updates.has(key)) out.push(state.services.get(key)!);
          for (const cur of updates.values()) if (cur && bucketOf(cur.number) === k) out.push(cur);
          return out;
        };
        if (await this.change(ns, spec.netnsPath, change, members, state)) {
          commitUpdates(state, index, updates);
          for (const key of updates.keys()) {
            const at = index.position.get(key);
            if (at === undefined || spec.services[at]?.key !== key) index.position.delete(key);
          }
        }
      } else if (ns.state) {
        const from = ns.state;
        const target = planState(spec, this.timeouts, from);
        const keys = new Set([...from.services.keys(), ...target.services.keys()]);
        const change = diffServices(from.services, keys, (k) => target.services.get(k));
        change.post = statesDiffer(from, target);
        let byBucket: RenderedService[][] | undefined;
        const members = (k: number): RenderedService[] => {
          if (!byBucket) {
            byBucket = Array.from({ length: BUCKETS }, () => []);
            for (const s of target.services.values()) byBucket[bucketOf(s.number)]!.push(s);
          }
          return byBucket[k]!;
        };
        if (await this.change(ns, spec.netnsPath, change, members, target)) {
          ns.state = target;
          ns.index = indexState(target, spec);
        }
      }
      if (!ns.state) {
        const target = planState(spec, this.timeouts);
        ns.handles.clear();
        await this.fullSync(ns, spec.netnsPath, target);
        this.sent.full++;
        ns.state = target;
        ns.index = indexState(target, spec);
      }
      this.lastApplyMs = performance.now() - started;
    });
  }

  remove(netnsPath: string): Promise<void> {
    if (typeof netnsPath !== 'string' || netnsPath === '') return Promise.reject(new NetdValidationError('E_INVALID_OPTION', 'remove: netnsPath must be a non-empty path'));
    const ns = this.namespaceOf(netnsPath);
    const current: Promise<void> = this.enqueue(ns, async () => {
      ns.state = undefined;
      ns.index = undefined;
      ns.handles.clear();
      closeSocket(ns);
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
    for (const ns of this.namespaces.values()) closeSocket(ns);
  }

  /**
   * The whole table, atomically. With netlink: the slots (100,000 at 10,000 services, 60% of
   * what nft would parse) go first into a map of their own that nothing uses yet (stageSlots),
   * then one `nft -f` batch rebuilds everything else around it in place. Failing that, or with
   * the nft transport: one batch that replaces the table, slots included.
   */
  private async fullSync(ns: Namespace, netnsPath: string, target: NftLbState): Promise<void> {
    if (this.transport === 'netlink') {
      try {
        const inPlace = await this.stageSlots(ns, netnsPath, target);
        await runNft(renderFull(target, inPlace), { netnsPath });
        return;
      } catch {
        // A staged map left behind goes with the table below.
        this.sent.stagedFailed++;
        closeSocket(ns);
      }
    }
    delete target.slotsSet;
    await runNft(renderFull(target), { netnsPath });
  }

  /**
   * Fills a slot map for `target` under the name the table does not use (SLOT_SETS; a leftover
   * of that name is replaced), creating the table if needed: one netlink batch, invisible to
   * traffic until the rebuild points `lb` at it. Sets target.slotsSet; returns what else the
   * table holds, to be deleted by the rebuild.
   */
  private async stageSlots(ns: Namespace, netnsPath: string, target: NftLbState): Promise<TableContents> {
    const fd = (ns.fd ??= openNetlinkInNetns(netnsPath, NETLINK_NETFILTER));
    const contents = await this.readTable(ns, fd);
    const present = new Set(contents.sets.map((s) => s.name));
    const entries = slotEntries(target);
    // An unused name first; a name in use by `lb` cannot be deleted (EBUSY), so try the other.
    const names = [...SLOT_SETS].sort((a, b) => Number(present.has(a)) - Number(present.has(b)));
    let failure: unknown;
    for (const name of names) {
      const batch = new NftBatch(ns.seq);
      batch.table(T);
      if (present.has(name)) batch.deleteSet(T, name);
      const setId = batch.markToIpv4Map(T, name);
      for (let i = 0; i < entries.length; i += ELEMENTS_PER_MESSAGE) batch.markToIpv4(T, name, entries.slice(i, i + ELEMENTS_PER_MESSAGE), setId);
      const request = batch.finish();
      ns.seq = (batch.firstSeq + batch.messages + 2) >>> 0;
      try {
        checkAcks(`staging slots in ${netnsPath}`, batch.described, splitMessages(await netlinkTransact(fd, request)));
      } catch (err) {
        failure = err;
        continue;
      }
      target.slotsSet = name;
      return { ...contents, sets: contents.sets.filter((s) => s.name !== name) };
    }
    throw failure;
  }

  /** The chains, named sets and objects of berth's table (all empty when there is none). */
  private async readTable(ns: Namespace, fd: number): Promise<TableContents> {
    const out: TableContents = { chains: [], sets: [], objects: [] };
    for (const what of ['chains', 'sets', 'objects'] as const) {
      const request = dumpRequest(ns.seq, what, T);
      ns.seq = (ns.seq + 1) >>> 0;
      const replies = splitMessages(await netlinkTransact(fd, request));
      const failed = replies.map(decodeAck).find((a) => a && a.error !== 0);
      if (failed) {
        if (failed.error === -ENOENT) return out;
        checkAcks(`listing the ${what} of table ${T}`, new Map(), replies);
      }
      for (const m of replies) {
        const o = decodeTableObject(m);
        if (!o || o.table !== T) continue;
        if (o.kind === 'chain') out.chains.push(o.name);
        else if (o.kind === 'set') {
          if (!o.anonymous) out.sets.push({ name: o.name, map: o.map });
        } else {
          const keyword = OBJECT_KEYWORDS[o.type];
          if (!keyword) throw new NetdError('E_NFT', `table ${T} holds object ${o.name} of type ${o.type}, which berth does not make`);
          out.objects.push({ name: o.name, keyword });
        }
      }
    }
    return out;
  }

  /**
   * Makes `change` in the kernel: backend-only changes as one netlink batch, the rest as one
   * `nft -f` batch. False when it failed: what the kernel holds is then not what we remembered
   * (someone flushed the table?), so the caller's state is dropped and the table rewritten whole.
   */
  private async change(ns: Namespace, netnsPath: string, change: LbChange, members: (bucket: number) => RenderedService[], to: NftLbState): Promise<boolean> {
    if (this.transport === 'netlink' && onlyBackends(change)) {
      try {
        if (change.delSlots.length + change.addSlots.length + change.resized.length > 0) {
          await this.sendBackends(ns, netnsPath, change);
          this.sent.netlink++;
        }
        return true;
      } catch {
        this.sent.netlinkFailed++;
        // The batch was not applied (a transaction is whole or nothing): the same change
        // through nft, which finds the rules by itself, and failing that the whole table.
        ns.handles.clear();
      }
    }
    try {
      const script = renderChange(change, members, to);
      if (script !== '') {
        await runNft(script, { netnsPath });
        this.sent.nft++;
      }
      for (const k of change.rewrite) ns.handles.delete(k);
      for (const s of change.resized) ns.handles.delete(bucketOf(s.number));
      return true;
    } catch {
      ns.state = undefined;
      ns.index = undefined;
      ns.handles.clear();
      return false;
    }
  }

  /** Slot elements and the replaced rules of resized services, in one nfnetlink batch. */
  private async sendBackends(ns: Namespace, netnsPath: string, change: LbChange): Promise<void> {
    const fd = (ns.fd ??= openNetlinkInNetns(netnsPath, NETLINK_NETFILTER));
    try {
      const replaced: Array<{ chain: string; handle: bigint; exprs: NftExpr[] }> = [];
      for (const s of change.resized) {
        const k = bucketOf(s.number);
        const handles = (await this.ruleHandles(ns, fd, k)).get(s.key);
        const rules = serviceRuleExprs(s);
        if (!handles || handles.length !== rules.length) throw new NetdError('E_NFT', `chain b_${k} of ${netnsPath} does not hold service ${s.key}'s rules`);
        rules.forEach((exprs, i) => replaced.push({ chain: `b_${k}`, handle: handles[i]!, exprs }));
      }
      const slotsSet = ns.state?.slotsSet ?? 'slots';
      const batch = new NftBatch(ns.seq);
      for (let i = 0; i < change.delSlots.length; i += ELEMENTS_PER_MESSAGE) {
        batch.setElements('delete', T, slotsSet, change.delSlots.slice(i, i + ELEMENTS_PER_MESSAGE).map((m) => ({ key: markBytes(m) })));
      }
      for (const r of replaced) batch.replaceRule(T, r.chain, r.handle, r.exprs);
      for (let i = 0; i < change.addSlots.length; i += ELEMENTS_PER_MESSAGE) {
        batch.setElements('add', T, slotsSet, change.addSlots.slice(i, i + ELEMENTS_PER_MESSAGE).map(([m, ip]) => ({ key: markBytes(m), data: ipv4Bytes(ip) })));
      }
      const request = batch.finish();
      ns.seq = (batch.firstSeq + batch.messages + 2) >>> 0;
      checkAcks(`nftables batch in ${netnsPath}`, batch.described, splitMessages(await netlinkTransact(fd, request)));
    } catch (err) {
      closeSocket(ns);
      throw err;
    }
  }

  /** The handles of bucket k's rules by service, read back once per bucket chain (a dump of
   *  its rules checked against what berth programmed there, in order). */
  private async ruleHandles(ns: Namespace, fd: number, k: number): Promise<Map<string, bigint[]>> {
    const known = ns.handles.get(k);
    if (known) return known;
    const { state, index } = ns;
    if (!state || !index) throw new NetdError('E_NFT', 'no state to read rule handles against');
    const expected = bucketLayout([...(index.buckets.get(k) ?? [])].map((key) => state.services.get(key)!));
    const request = getRulesRequest(ns.seq, T, `b_${k}`);
    ns.seq = (ns.seq + 1) >>> 0;
    const replies = splitMessages(await netlinkTransact(fd, request));
    checkAcks(`dump of chain b_${k}`, new Map(), replies);
    const rules = replies.map(decodeRule).filter((r) => r !== undefined);
    if (rules.length !== expected.length) throw new NetdError('E_NFT', `chain b_${k} holds ${rules.length} rules, berth programmed ${expected.length}`);
    const out = new Map<string, bigint[]>();
    rules.forEach((r, i) => {
      const slot = expected[i]!;
      if ('fixed' in slot) return;
      const { service, rule } = slot;
      if (!sameExprs(r.exprs, serviceRuleExprs(service)[rule]!)) throw new NetdError('E_NFT', `rule ${r.handle} of chain b_${k} is not the one berth programmed for ${service.key}`);
      const handles = out.get(service.key) ?? [];
      handles[rule] = r.handle;
      out.set(service.key, handles);
    });
    ns.handles.set(k, out);
    return out;
  }

  private namespaceOf(netnsPath: string): Namespace {
    let ns = this.namespaces.get(netnsPath);
    if (!ns) this.namespaces.set(netnsPath, (ns = { state: undefined, index: undefined, sysctlsDone: false, queue: Promise.resolve(), fd: undefined, seq: 1, handles: new Map() }));
    return ns;
  }

  private enqueue(ns: Namespace, fn: () => Promise<void>): Promise<void> {
    const run = ns.queue.catch(() => undefined).then(fn);
    ns.queue = run;
    return run;
  }
}

function closeSocket(ns: Namespace): void {
  if (ns.fd === undefined) return;
  try {
    closeSync(ns.fd);
  } catch {
    // already gone with its namespace
  }
  ns.fd = undefined;
}

/** Throws on the first error the kernel answered (a failed message, or a failed commit, which
 *  comes back for BATCH_BEGIN's sequence number). */
function checkAcks(what: string, described: ReadonlyMap<number, string>, replies: readonly NlMessage[]): void {
  for (const m of replies) {
    const ack = decodeAck(m);
    if (!ack || ack.error === 0) continue;
    const errno = -ack.error;
    let name = `errno ${errno}`;
    try {
      name = getSystemErrorName(ack.error);
    } catch {
      // unknown errno
    }
    const op = described.get(ack.seq) ?? `message ${ack.seq}`;
    throw new NetlinkOperationError(`${what}: ${op}`, name, ack.message);
  }
}
