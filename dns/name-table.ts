// The names a sandbox can resolve, kept as indexes updated per record change (the worker and the
// cluster tables push changes; nothing polls). Pure: no sockets, no clock, no I/O; the only
// randomness is the shuffle of multi-address answers, injectable for tests. Records are checked
// by pure functions (checkNetwork, checkService, checkTask) before anything changes, so a refused
// record leaves the table as it was; NameRecords (records.ts) runs the same checks first.
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';
import { DnsError } from './errors.js';
import { RCode, RRType, type ResourceRecord } from './wire.js';

/**
 * Docker answers everything with 600 s. A VIP lives as long as its service, so 600 s costs
 * nothing there. A task address changes whenever the task is replaced (update, reschedule,
 * failure), and clients that honour TTLs (JVMs, nginx, Go's cgo-less resolver with caches,
 * sidecars) would keep dialling a dead task for up to ten minutes; 30 s bounds that while
 * still letting caches absorb bursts.
 */
export const DEFAULT_SERVICE_TTL = 600;
export const DEFAULT_TASK_TTL = 30;
const MAX_TTL = 2 ** 31 - 1;
const TASKS_PREFIX = 'tasks.';
const IPV4_ARPA = '.in-addr.arpa';
const IPV6_ARPA = '.ip6.arpa';
const IPV6_NIBBLES = 32;
const MAX_NAME_LEN = 253;
const LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

export type SandboxId = string;
export type NetworkId = string;

export interface NetworkRecord {
  id: NetworkId;
  /** What `<name>.<network>` qualified forms use. */
  name: string;
}

export interface ServicePort {
  /** The port's name in the service spec, if any: `_<name>._<proto>.<service>`. */
  name?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** The container port: SRV answers point at tasks, so this is the port to dial there. */
  targetPort: number;
  publishedPort?: number;
}

export interface ServiceNetwork {
  networkId: NetworkId;
  /** The service's virtual IPs on this network (vip mode); IPv4 and/or IPv6 literals. */
  vips?: readonly string[];
  /** Service aliases on this network: resolve like the service name. */
  aliases?: readonly string[];
}

export interface ServiceRecord {
  id: string;
  name: string;
  endpointMode: 'vip' | 'dnsrr';
  networks: readonly ServiceNetwork[];
  /** Published ports; each gives an SRV name. */
  ports?: readonly ServicePort[];
}

export interface TaskNetwork {
  networkId: NetworkId;
  /** The task's addresses on this network; IPv4 and/or IPv6 literals. */
  addresses: readonly string[];
  /** Container-level network aliases: resolve to this task's address. */
  aliases?: readonly string[];
}

export interface TaskRecord {
  id: string;
  /** Absent for a container that is not a service task. */
  serviceId?: string;
  /** `<service>.<slot>.<taskid>` (or `<service>.<nodeid>.<taskid>` for global services). */
  name: string;
  containerName?: string;
  hostname?: string;
  /** Only healthy tasks are in `tasks.<service>` and dnsrr answers; names resolve regardless. */
  healthy: boolean;
  networks: readonly TaskNetwork[];
  /**
   * Another node's endpoint (from the cluster's gossip), not a task of this node. The name table
   * ignores it; NameRecords ranks what a remote task says of its service after what local tasks
   * say (they hold the spec: ports, every network's VIPs and aliases).
   */
  remote?: boolean;
}

export interface SandboxRecord {
  id: SandboxId;
  /** Networks the sandbox is attached to, in attachment order (the first wins a name clash). */
  networkIds: readonly NetworkId[];
}

export interface Question {
  /** Lower-case, no trailing dot. */
  name: string;
  type: number;
}

export type Resolution =
  | { kind: 'answer'; rcode: typeof RCode.NOERROR | typeof RCode.NXDOMAIN; answers: ResourceRecord[]; additionals: ResourceRecord[] }
  | { kind: 'forward' };

/**
 * What the DNS server reads names through (libnetwork's DNSBackend): answers as seen from one
 * sandbox, and a generation that says when kept answers went stale. NameTable is the one there is.
 */
export interface NameLookup {
  /** Goes up with every change that may alter an answer: a kept reply is good while it is unchanged. */
  readonly generation: number;
  /** 'forward' when the name is not berth's (the host's resolvers answer it). */
  resolve(q: Question, from: SandboxId): Resolution;
  /** The additional records for a set of answers (the addresses of SRV targets). */
  additionalsFor(answers: readonly ResourceRecord[], from: SandboxId): ResourceRecord[];
}

/** Why a record is refused: a name that is not a DNS name, an address that is not IP, a bad
 *  port, or a record not shaped as its type says (an id missing, a list that is not one...). */
export type RejectReason = 'name' | 'address' | 'port' | 'shape';

/** A refused record: why, and a message that names the record and what to fix. */
export interface RecordProblem {
  reason: RejectReason;
  message: string;
}

export interface NameTableOptions {
  serviceTtl?: number;
  taskTtl?: number;
  /** Returns [0, 1); Math.random by default. */
  random?: () => number;
}

/** Both families of one owner on one network, pre-encoded for the wire. */
interface Addresses {
  readonly networkId: NetworkId;
  readonly v4: readonly Uint8Array[];
  readonly v6: readonly Uint8Array[];
}

// The table holds every task of the cluster's networks (10,000 other nodes' tasks is a real
// size), so a task's state is kept flat: per network one Addresses in a list (a Map of one entry
// cost ~230 bytes), the state itself is its binding and its PTR entry (no wrapper objects), and
// where it is bound is a flat list of (map, key) pairs. A name or address almost always has one
// owner: the index holds that owner itself, and a list only when there are more.

/** Where an owner is bound, as (the index's `names` or `ptr` map, key) pairs, so removing it
 *  touches only its own entries. */
type Refs = readonly (SlotMap | string)[];
type SlotMap = Map<string, OneOrMore<Slot>>;
/** One item, or a list of two or more. */
type OneOrMore<T extends object> = T | T[];

interface ServiceState {
  readonly kind: 'serviceState';
  record: ServiceRecord;
  vips: readonly Addresses[];
  refs: Refs;
}

/** What answers need of a task once it is indexed: its names and aliases live in the index,
 *  so the record given to setTask is not kept whole. It is also its own binding (kind 'task')
 *  and its own PTR entry. */
interface TaskState {
  readonly kind: 'task';
  readonly id: string;
  readonly serviceId: string | undefined;
  readonly name: string;
  healthy: boolean;
  readonly addrs: readonly Addresses[];
  refs: Refs;
}

type Owner = ServiceState | TaskState;

type Binding = { kind: 'service'; svc: ServiceState } | { kind: 'tasks'; svc: ServiceState } | TaskState | { kind: 'srv'; svc: ServiceState; port: ServicePort };

/** What a names or ptr list holds: a binding, or (ptr) the owner of the address. */
type Slot = Binding | Owner;

interface NetworkIndex {
  names: Map<string, OneOrMore<Binding>>;
  /** By address key: the owners of that address (the first answers, `<its name>.<network>`). */
  ptr: Map<string, OneOrMore<Owner>>;
}

const NXDOMAIN: Resolution = { kind: 'answer', rcode: RCode.NXDOMAIN, answers: [], additionals: [] };
const FORWARD: Resolution = { kind: 'forward' };

const PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'udp', 'sctp']);
const MAX_PORT = 65535;

function problem(reason: RejectReason, what: string, why: string): RecordProblem {
  return { reason, message: `${what}: ${why}` };
}

function badRecord(p: RecordProblem): DnsError {
  return new DnsError('E_DNS_BAD_RECORD', p.message);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** A DNS name as records give it: lower-cased, without the trailing dot. Only for checked names. */
function normName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function nameProblem(what: string, name: unknown): RecordProblem | undefined {
  if (typeof name === 'string') {
    const n = normName(name);
    if (n.length > 0 && n.length <= MAX_NAME_LEN && n.split('.').every((l) => LABEL_RE.test(l))) return undefined;
  }
  return problem('name', what, `${show(name)} is not a DNS name (letters, digits, '-', '_', labels of 1-63, at most ${MAX_NAME_LEN} chars)`);
}

function namesProblem(what: string, list: unknown): RecordProblem | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) return problem('shape', what, `aliases must be a list, got ${show(list)}`);
  for (const a of list) {
    const p = nameProblem(what, a);
    if (p) return p;
  }
  return undefined;
}

/** Strict literals only (node's isIP): ipaddr.js alone would take "010.0.0.1" as 8.0.0.1 and "1" as 0.0.0.1. */
function addressesProblem(what: string, list: unknown): RecordProblem | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) return problem('shape', what, `addresses must be a list, got ${show(list)}`);
  for (const a of list) {
    if (typeof a !== 'string' || isIP(a) === 0) return problem('address', what, `${show(a)} is not an IP address`);
  }
  return undefined;
}

function portProblem(what: string, n: unknown): RecordProblem | undefined {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_PORT ? undefined : problem('port', what, `port ${show(n)} is not 1..${MAX_PORT}`);
}

/** Why the name table would refuse this network record, or undefined when it is good. */
export function checkNetwork(n: NetworkRecord): RecordProblem | undefined {
  if (!isId(n?.id)) return problem('shape', 'network', `id ${show(n?.id)} is not a non-empty string`);
  return nameProblem(`network ${n.id}`, n.name);
}

/** Why the name table would refuse this service record, or undefined when it is good. */
export function checkService(r: ServiceRecord): RecordProblem | undefined {
  if (!isId(r?.id)) return problem('shape', 'service', `id ${show(r?.id)} is not a non-empty string`);
  const what = `service ${r.id}`;
  const p = nameProblem(what, r.name);
  if (p) return p;
  if (r.endpointMode !== 'vip' && r.endpointMode !== 'dnsrr') return problem('shape', what, `endpointMode ${show(r.endpointMode)} is not 'vip' or 'dnsrr'`);
  if (!Array.isArray(r.networks)) return problem('shape', what, `networks must be a list, got ${show(r.networks)}`);
  for (const n of r.networks) {
    if (!isId(n?.networkId)) return problem('shape', what, `networkId ${show(n?.networkId)} is not a non-empty string`);
    const q = addressesProblem(what, n.vips) ?? namesProblem(what, n.aliases);
    if (q) return q;
  }
  if (r.ports === undefined) return undefined;
  if (!Array.isArray(r.ports)) return problem('shape', what, `ports must be a list, got ${show(r.ports)}`);
  for (const port of r.ports) {
    const q = portProblem(what, port?.targetPort);
    if (q) return q;
    if (!PROTOCOLS.has(port.protocol)) return problem('port', what, `protocol ${show(port.protocol)} is not tcp, udp or sctp`);
    if (port.publishedPort !== undefined && port.publishedPort !== 0) {
      const pub = portProblem(what, port.publishedPort);
      if (pub) return pub;
    }
    if (port.name !== undefined && typeof port.name !== 'string') return problem('port', what, `port name ${show(port.name)} is not a string`);
  }
  return undefined;
}

/** Why the name table would refuse this task record, or undefined when it is good. */
export function checkTask(r: TaskRecord): RecordProblem | undefined {
  if (!isId(r?.id)) return problem('shape', 'task', `id ${show(r?.id)} is not a non-empty string`);
  const what = `task ${r.id}`;
  if (r.serviceId !== undefined && !isId(r.serviceId)) return problem('shape', what, `serviceId ${show(r.serviceId)} is not a non-empty string`);
  const p =
    nameProblem(what, r.name) ??
    (r.containerName ? nameProblem(what, typeof r.containerName === 'string' ? r.containerName.replace(/^\//, '') : r.containerName) : undefined) ??
    (r.hostname ? nameProblem(what, r.hostname) : undefined);
  if (p) return p;
  if (!Array.isArray(r.networks)) return problem('shape', what, `networks must be a list, got ${show(r.networks)}`);
  for (const n of r.networks) {
    if (!isId(n?.networkId)) return problem('shape', what, `networkId ${show(n?.networkId)} is not a non-empty string`);
    const q = addressesProblem(what, n.addresses) ?? namesProblem(what, n.aliases);
    if (q) return q;
  }
  return undefined;
}

const NO_ADDRESSES: readonly Uint8Array[] = Object.freeze([]);
/** Address bytes are cut from shared slabs: an ArrayBuffer of its own per 4-byte address cost
 *  more than the address (an object and a backing store each, per task and network). */
const SLAB_BYTES = 4096;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function addressBytes(bytes: readonly number[]): Uint8Array {
  if (slabUsed + bytes.length > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + bytes.length);
  out.set(bytes);
  slabUsed += bytes.length;
  return out;
}

/** Checked literals only. Lists are built at their final length (a list grown by push keeps
 *  room for 16 more), and a family without addresses shares one empty list. */
function parseAddresses(networkId: NetworkId, list: readonly string[] | undefined): Addresses {
  const v4: Uint8Array[] = [];
  const v6: Uint8Array[] = [];
  for (const a of list ?? []) {
    const ip = ipaddr.parse(a);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
      v4.push(addressBytes((ip as ipaddr.IPv6).toIPv4Address().toByteArray()));
    } else if (ip.kind() === 'ipv4') v4.push(addressBytes(ip.toByteArray()));
    else v6.push(addressBytes(ip.toByteArray()));
  }
  return { networkId, v4: v4.length === 0 ? NO_ADDRESSES : v4.slice(), v6: v6.length === 0 ? NO_ADDRESSES : v6.slice() };
}

/** Canonical text of an address given as bytes: the key of the PTR index. */
function addressKey(bytes: Uint8Array): string {
  return ipaddr.fromByteArray(Array.from(bytes)).toNormalizedString();
}

/** The address a reverse name stands for, or undefined when it is not a full one. */
export function reverseNameToAddress(name: string): string | undefined {
  if (name.endsWith(IPV4_ARPA)) {
    const parts = name.slice(0, -IPV4_ARPA.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith(IPV6_ARPA)) {
    const nibbles = name.slice(0, -IPV6_ARPA.length).split('.');
    if (nibbles.length !== IPV6_NIBBLES || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!;
    return ipaddr.parse(groups.join(':')).toNormalizedString();
  }
  return undefined;
}

function ptrKeyOf(text: string): string {
  return ipaddr.parse(text).toNormalizedString();
}

export class NameTable implements NameLookup {
  private readonly serviceTtl: number;
  private readonly taskTtl: number;
  private readonly random: () => number;
  private readonly networks = new Map<NetworkId, NetworkRecord>();
  private readonly services = new Map<string, ServiceState>();
  private readonly tasks = new Map<string, TaskState>();
  private readonly tasksByService = new Map<string, Set<TaskState>>();
  private readonly sandboxes = new Map<SandboxId, readonly NetworkId[]>();
  private readonly index = new Map<NetworkId, NetworkIndex>();
  private changes = 0;

  constructor(opts: NameTableOptions = {}) {
    this.serviceTtl = checkTtl('serviceTtl', opts.serviceTtl ?? DEFAULT_SERVICE_TTL);
    this.taskTtl = checkTtl('taskTtl', opts.taskTtl ?? DEFAULT_TASK_TTL);
    this.random = opts.random ?? Math.random;
  }

  /** Goes up with every update, so a cache of answers knows when it went stale. */
  get generation(): number {
    return this.changes;
  }

  // ---- updates ----

  setNetwork(n: NetworkRecord): void {
    const p = checkNetwork(n);
    if (p) throw badRecord(p);
    this.changes++;
    this.networks.set(n.id, { id: n.id, name: normName(n.name) });
  }

  removeNetwork(id: NetworkId): void {
    this.changes++;
    this.networks.delete(id);
  }

  setSandbox(s: SandboxRecord): void {
    this.changes++;
    this.sandboxes.set(s.id, [...s.networkIds]);
  }

  removeSandbox(id: SandboxId): void {
    this.changes++;
    this.sandboxes.delete(id);
  }

  /**
   * Adds or replaces a service (same id). One record per service: NameRecords merges what each
   * task says of it into this one.
   */
  setService(record: ServiceRecord): void {
    const p = checkService(record);
    if (p) throw badRecord(p);
    this.changes++;
    const name = normName(record.name);
    const vips = record.networks.map((n) => parseAddresses(n.networkId, n.vips));
    const aliases = record.networks.map((n) => (n.aliases ?? []).map(normName));
    const ports = record.ports ?? [];
    this.removeService(record.id);
    const svc: ServiceState = { kind: 'serviceState', record: { ...record, name }, vips, refs: [] };
    this.services.set(record.id, svc);
    const refs: (SlotMap | string)[] = [];
    record.networks.forEach((n, i) => {
      const idx = this.indexOf(n.networkId);
      for (const alias of [name, ...aliases[i]!]) {
        bind(refs, idx, alias, { kind: 'service', svc });
        bind(refs, idx, TASKS_PREFIX + alias, { kind: 'tasks', svc });
      }
      for (const p of ports) {
        const srvNames = new Set([`_${p.targetPort}._${p.protocol}.${name}`]);
        if (p.name) srvNames.add(`_${p.name.toLowerCase()}._${p.protocol}.${name}`);
        for (const s of srvNames) bind(refs, idx, s, { kind: 'srv', svc, port: p });
      }
      if (record.endpointMode === 'vip') {
        const v = vips[i]!;
        for (const a of [...v.v4, ...v.v6]) addPtr(refs, idx, addressKey(a), svc);
      }
    });
    svc.refs = refs.slice();
  }

  removeService(id: string): void {
    this.changes++;
    const svc = this.services.get(id);
    if (!svc) return;
    this.services.delete(id);
    unbindOwner(svc.refs, svc);
  }

  /** Adds or replaces a task (same id): call it again when health or addresses change. */
  setTask(record: TaskRecord): void {
    const p = checkTask(record);
    if (p) throw badRecord(p);
    this.changes++;
    const ptrName = normName(record.name);
    const names = new Set([ptrName]);
    if (record.containerName) names.add(normName(record.containerName.replace(/^\//, '')));
    if (record.hostname) names.add(normName(record.hostname));
    const addrs = record.networks.map((n) => parseAddresses(n.networkId, n.addresses));
    const aliases = record.networks.map((n) => (n.aliases ?? []).map(normName));
    this.removeTask(record.id);
    const task: TaskState = { kind: 'task', id: record.id, serviceId: record.serviceId, name: record.name, healthy: record.healthy, addrs, refs: [] };
    this.tasks.set(record.id, task);
    if (record.serviceId !== undefined) {
      let set = this.tasksByService.get(record.serviceId);
      if (!set) this.tasksByService.set(record.serviceId, (set = new Set()));
      set.add(task);
    }
    const refs: (SlotMap | string)[] = [];
    record.networks.forEach((n, i) => {
      const idx = this.indexOf(n.networkId);
      for (const name of [...names, ...aliases[i]!]) bind(refs, idx, name, task);
      const a = addrs[i]!;
      for (const b of [...a.v4, ...a.v6]) addPtr(refs, idx, addressKey(b), task);
    });
    task.refs = refs.slice();
  }

  /**
   * Changes only a task's health, in place: health flips on every health_status event, and the
   * names, aliases and PTR entries stay as they are. Returns false for a task not in the table.
   */
  setTaskHealthy(id: string, healthy: boolean): boolean {
    this.changes++;
    const task = this.tasks.get(id);
    if (!task) return false;
    task.healthy = healthy;
    return true;
  }

  removeTask(id: string): void {
    this.changes++;
    const task = this.tasks.get(id);
    if (!task) return;
    this.tasks.delete(id);
    if (task.serviceId !== undefined) {
      const set = this.tasksByService.get(task.serviceId);
      set?.delete(task);
      if (set?.size === 0) this.tasksByService.delete(task.serviceId);
    }
    unbindOwner(task.refs, task);
  }

  /** Counts for diagnostics (agentctl, metrics). */
  size(): { networks: number; services: number; tasks: number; sandboxes: number } {
    return { networks: this.networks.size, services: this.services.size, tasks: this.tasks.size, sandboxes: this.sandboxes.size };
  }

  // ---- queries ----

  /**
   * Answers q as seen from sandbox `from`: only names on the sandbox's networks exist.
   * 'forward' means berth has no such name (the caller asks the host's resolvers);
   * NXDOMAIN is returned only for `<name>.<network>` forms, which are berth's to answer.
   */
  resolve(q: Question, from: SandboxId): Resolution {
    const nets = this.sandboxes.get(from);
    if (!nets || nets.length === 0) return FORWARD;
    if (q.type === RRType.PTR || q.name.endsWith(IPV4_ARPA) || q.name.endsWith(IPV6_ARPA)) return this.resolveReverse(q, nets);

    let found = false;
    for (const netId of nets) {
      const r = this.lookup(q, netId, q.name);
      if (r === 'absent') continue;
      if (r.length > 0) return answer(r);
      found = true;
    }
    for (const netId of nets) {
      const net = this.networks.get(netId);
      if (!net || !q.name.endsWith(`.${net.name}`)) continue;
      const r = this.lookup(q, netId, q.name.slice(0, -net.name.length - 1));
      if (r === 'absent') continue;
      if (r.length > 0) return answer(r);
      found = true;
    }
    if (found) return answer([]);
    for (const netId of nets) {
      const net = this.networks.get(netId);
      if (net && (q.name === net.name || q.name.endsWith(`.${net.name}`))) return NXDOMAIN;
    }
    return FORWARD;
  }

  /** Records for name on one network: 'absent' when the name does not exist there, [] for NODATA. */
  private lookup(q: Question, netId: NetworkId, name: string): ResourceRecord[] | 'absent' {
    const bound = this.index.get(netId)?.names.get(name);
    if (bound === undefined) return 'absent';
    const bindings = Array.isArray(bound) ? bound : [bound];
    const wantV4 = q.type === RRType.A || q.type === RRType.ANY;
    const wantV6 = q.type === RRType.AAAA || q.type === RRType.ANY;
    const out: ResourceRecord[] = [];
    // One kind answers: a service (or its alias) outranks a container or alias of the same name.
    let hasService = false;
    for (const b of bindings) if (b.kind !== 'task') hasService = true;
    let shuffle = bindings.length > 1;
    for (const b of bindings) {
      switch (b.kind) {
        case 'service':
          if (b.svc.record.endpointMode === 'vip') {
            const v = addressesOn(b.svc.vips, netId);
            if (v) this.pushAddrs(out, v, wantV4, wantV6, this.serviceTtl);
          } else {
            this.pushTaskAddrs(out, b.svc, netId, wantV4, wantV6);
            shuffle = true;
          }
          break;
        case 'tasks':
          this.pushTaskAddrs(out, b.svc, netId, wantV4, wantV6);
          shuffle = true;
          break;
        case 'task': {
          if (hasService) break;
          const a = addressesOn(b.addrs, netId);
          if (a) this.pushAddrs(out, a, wantV4, wantV6, this.taskTtl);
          break;
        }
        case 'srv':
          if (q.type === RRType.SRV || q.type === RRType.ANY) this.pushSrv(out, b.svc, b.port, netId);
          break;
      }
    }
    if (shuffle && out.length > 1) this.shuffle(out);
    return out;
  }

  private pushAddrs(out: ResourceRecord[], a: Addresses, v4: boolean, v6: boolean, ttl: number): void {
    if (v4) for (const address of a.v4) out.push({ type: RRType.A, ttl, address });
    if (v6) for (const address of a.v6) out.push({ type: RRType.AAAA, ttl, address });
  }

  private healthyTasks(svc: ServiceState, netId: NetworkId): TaskState[] {
    const out: TaskState[] = [];
    for (const t of this.tasksByService.get(svc.record.id) ?? []) {
      if (t.healthy && addressesOn(t.addrs, netId)) out.push(t);
    }
    return out;
  }

  private pushTaskAddrs(out: ResourceRecord[], svc: ServiceState, netId: NetworkId, v4: boolean, v6: boolean): void {
    for (const t of this.healthyTasks(svc, netId)) this.pushAddrs(out, addressesOn(t.addrs, netId)!, v4, v6, this.taskTtl);
  }

  private pushSrv(out: ResourceRecord[], svc: ServiceState, port: ServicePort, netId: NetworkId): void {
    for (const t of this.healthyTasks(svc, netId)) {
      out.push({ type: RRType.SRV, ttl: this.taskTtl, priority: 0, weight: 0, port: port.targetPort, target: t.name.toLowerCase() });
    }
  }

  private resolveReverse(q: Question, nets: readonly NetworkId[]): Resolution {
    const address = reverseNameToAddress(q.name);
    if (address === undefined) return FORWARD;
    const key = ptrKeyOf(address);
    for (const netId of nets) {
      const owners = this.index.get(netId)?.ptr.get(key);
      const owner = Array.isArray(owners) ? owners[0] : owners;
      const net = this.networks.get(netId);
      if (!owner || !net) continue;
      if (q.type !== RRType.PTR && q.type !== RRType.ANY) return answer([]);
      // Unqualified names; the answer appends `.<network name>` like Docker.
      const [name, ttl] = owner.kind === 'task' ? [normName(owner.name), this.taskTtl] : [owner.record.name, this.serviceTtl];
      return answer([{ type: RRType.PTR, ttl, target: `${name}.${net.name}` }]);
    }
    return FORWARD;
  }

  private shuffle(a: ResourceRecord[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }

  /**
   * SRV answers carry task names as targets; the additional section gives their addresses so
   * the client needs no second round trip (RFC 2782).
   */
  additionalsFor(answers: readonly ResourceRecord[], from: SandboxId): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    for (const rr of answers) {
      if (rr.type !== RRType.SRV) continue;
      for (const type of [RRType.A, RRType.AAAA]) {
        const r = this.resolve({ name: rr.target, type }, from);
        if (r.kind === 'answer') for (const a of r.answers) out.push({ ...a, name: rr.target } as ResourceRecord);
      }
    }
    return out;
  }

  private indexOf(netId: NetworkId): NetworkIndex {
    let idx = this.index.get(netId);
    if (!idx) this.index.set(netId, (idx = { names: new Map(), ptr: new Map() }));
    return idx;
  }
}

function answer(answers: ResourceRecord[]): Resolution {
  return { kind: 'answer', rcode: RCode.NOERROR, answers, additionals: [] };
}

function checkTtl(what: string, ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) {
    throw new DnsError('E_DNS_BAD_CONFIG', `${what} must be an integer number of seconds in 0..${MAX_TTL}, got ${String(ttl)}`);
  }
  return ttl;
}

/** The owner a names or ptr list entry stands for. */
function ownerOf(x: Slot): Owner {
  return x.kind === 'task' || x.kind === 'serviceState' ? x : x.svc;
}

/** One owner's addresses on a network (a task or service is on a few at most). */
function addressesOn(list: readonly Addresses[], netId: NetworkId): Addresses | undefined {
  for (const a of list) if (a.networkId === netId) return a;
  return undefined;
}

function bind(refs: (SlotMap | string)[], idx: NetworkIndex, name: string, b: Binding): void {
  addTo(idx.names, name, b);
  refs.push(idx.names, name);
}

function addPtr(refs: (SlotMap | string)[], idx: NetworkIndex, key: string, owner: Owner): void {
  addTo(idx.ptr, key, owner);
  refs.push(idx.ptr, key);
}

function addTo<T extends object>(map: Map<string, OneOrMore<T>>, key: string, item: T): void {
  const held = map.get(key);
  if (held === undefined) map.set(key, item);
  else if (Array.isArray(held)) held.push(item);
  else map.set(key, [held, item]);
}

/** Drops every binding and PTR entry of one owner; the maps stay free of empty lists. */
function unbindOwner(refs: Refs, owner: Owner): void {
  for (let i = 0; i < refs.length; i += 2) {
    const map = refs[i] as SlotMap;
    const key = refs[i + 1] as string;
    const held = map.get(key);
    if (held === undefined) continue;
    if (!Array.isArray(held)) {
      if (ownerOf(held) === owner) map.delete(key);
      continue;
    }
    const kept = held.filter((x) => ownerOf(x) !== owner);
    if (kept.length === 0) map.delete(key);
    else map.set(key, kept.length === 1 ? kept[0]! : kept);
  }
}
