// The names a sandbox can resolve, kept as indexes updated per record change (the worker and the
// cluster tables push changes; nothing polls). Pure: no sockets, no clock, no I/O; the only
// randomness is the shuffle of multi-address answers, injectable for tests.
import ipaddr from 'ipaddr.js';
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

export interface NameTableOptions {
  serviceTtl?: number;
  taskTtl?: number;
  /** Returns [0, 1); Math.random by default. */
  random?: () => number;
}

/** Both families of one owner on one network, pre-encoded for the wire. */
interface Addresses {
  v4: Uint8Array[];
  v6: Uint8Array[];
}

/** Where an owner is bound, so removing it touches only its own entries. */
interface Ref {
  idx: NetworkIndex;
  map: 'names' | 'ptr';
  key: string;
}

interface ServiceState {
  record: ServiceRecord;
  key: string;
  vips: Map<NetworkId, Addresses>;
  refs: Ref[];
}

interface TaskState {
  record: TaskRecord;
  key: string;
  addrs: Map<NetworkId, Addresses>;
  refs: Ref[];
}

type Binding =
  | { kind: 'service'; svc: ServiceState }
  | { kind: 'tasks'; svc: ServiceState }
  | { kind: 'task'; task: TaskState }
  | { kind: 'srv'; svc: ServiceState; port: ServicePort };

interface PtrEntry {
  /** Unqualified; the answer appends `.<network name>` like Docker. */
  name: string;
  ownerKey: string;
  ttl: 'service' | 'task';
}

interface NetworkIndex {
  names: Map<string, Binding[]>;
  ptr: Map<string, PtrEntry[]>;
}

const NXDOMAIN: Resolution = { kind: 'answer', rcode: RCode.NXDOMAIN, answers: [], additionals: [] };
const FORWARD: Resolution = { kind: 'forward' };

function badRecord(what: string, why: string): DnsError {
  return new DnsError('E_DNS_BAD_RECORD', `${what}: ${why}`);
}

/** Normalises a DNS name given by a record; throws naming the record when it cannot be one. */
function dnsName(what: string, name: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > MAX_NAME_LEN || !n.split('.').every((l) => LABEL_RE.test(l))) {
    throw badRecord(what, `${JSON.stringify(name)} is not a DNS name (letters, digits, '-', '_', labels of 1-63, at most ${MAX_NAME_LEN} chars)`);
  }
  return n;
}

function parseAddresses(what: string, list: readonly string[] | undefined): Addresses {
  const out: Addresses = { v4: [], v6: [] };
  for (const a of list ?? []) {
    if (!ipaddr.isValid(a)) throw badRecord(what, `${JSON.stringify(a)} is not an IP address`);
    const ip = ipaddr.parse(a);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
      out.v4.push(Uint8Array.from((ip as ipaddr.IPv6).toIPv4Address().toByteArray()));
    } else if (ip.kind() === 'ipv4') out.v4.push(Uint8Array.from(ip.toByteArray()));
    else out.v6.push(Uint8Array.from(ip.toByteArray()));
  }
  return out;
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

export class NameTable {
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
    this.changes++;
    this.networks.set(n.id, { id: n.id, name: dnsName(`network ${n.id}`, n.name) });
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

  /** Adds or replaces a service (same id). */
  setService(record: ServiceRecord): void {
    this.changes++;
    const what = `service ${record.id}`;
    const name = dnsName(what, record.name);
    const vips = new Map<NetworkId, Addresses>();
    for (const n of record.networks) vips.set(n.networkId, parseAddresses(what, n.vips));
    const aliases = record.networks.map((n) => (n.aliases ?? []).map((a) => dnsName(what, a)));
    const ports = (record.ports ?? []).map((p) => {
      if (!Number.isInteger(p.targetPort) || p.targetPort < 1 || p.targetPort > 65535) throw badRecord(what, `port ${String(p.targetPort)} is not 1..65535`);
      return p;
    });
    this.removeService(record.id);
    const svc: ServiceState = { record: { ...record, name }, key: `s:${record.id}`, vips, refs: [] };
    this.services.set(record.id, svc);
    record.networks.forEach((n, i) => {
      const idx = this.indexOf(n.networkId);
      for (const alias of [name, ...aliases[i]!]) {
        bind(svc.refs, idx, alias, { kind: 'service', svc });
        bind(svc.refs, idx, TASKS_PREFIX + alias, { kind: 'tasks', svc });
      }
      for (const p of ports) {
        const srvNames = new Set([`_${p.targetPort}._${p.protocol}.${name}`]);
        if (p.name) srvNames.add(`_${p.name.toLowerCase()}._${p.protocol}.${name}`);
        for (const s of srvNames) bind(svc.refs, idx, s, { kind: 'srv', svc, port: p });
      }
      if (record.endpointMode === 'vip') {
        const v = vips.get(n.networkId)!;
        for (const a of [...v.v4, ...v.v6]) addPtr(svc.refs, idx, addressKey(a), { name, ownerKey: svc.key, ttl: 'service' });
      }
    });
  }

  removeService(id: string): void {
    this.changes++;
    const svc = this.services.get(id);
    if (!svc) return;
    this.services.delete(id);
    unbindOwner(svc.refs, svc.key);
  }

  /** Adds or replaces a task (same id): call it again when health or addresses change. */
  setTask(record: TaskRecord): void {
    this.changes++;
    const what = `task ${record.id}`;
    const names = new Set([dnsName(what, record.name)]);
    if (record.containerName) names.add(dnsName(what, record.containerName.replace(/^\//, '')));
    if (record.hostname) names.add(dnsName(what, record.hostname));
    const addrs = new Map<NetworkId, Addresses>();
    for (const n of record.networks) addrs.set(n.networkId, parseAddresses(what, n.addresses));
    const aliases = record.networks.map((n) => (n.aliases ?? []).map((a) => dnsName(what, a)));
    this.removeTask(record.id);
    const task: TaskState = { record, key: `t:${record.id}`, addrs, refs: [] };
    this.tasks.set(record.id, task);
    if (record.serviceId !== undefined) {
      let set = this.tasksByService.get(record.serviceId);
      if (!set) this.tasksByService.set(record.serviceId, (set = new Set()));
      set.add(task);
    }
    const ptrName = dnsName(what, record.name);
    record.networks.forEach((n, i) => {
      const idx = this.indexOf(n.networkId);
      for (const name of [...names, ...aliases[i]!]) bind(task.refs, idx, name, { kind: 'task', task });
      const a = addrs.get(n.networkId)!;
      for (const b of [...a.v4, ...a.v6]) addPtr(task.refs, idx, addressKey(b), { name: ptrName, ownerKey: task.key, ttl: 'task' });
    });
  }

  /**
   * Changes only a task's health, in place: health flips on every health_status event, and the
   * names, aliases and PTR entries stay as they are. Returns false for a task not in the table.
   */
  setTaskHealthy(id: string, healthy: boolean): boolean {
    this.changes++;
    const task = this.tasks.get(id);
    if (!task) return false;
    if (task.record.healthy !== healthy) task.record = { ...task.record, healthy };
    return true;
  }

  removeTask(id: string): void {
    this.changes++;
    const task = this.tasks.get(id);
    if (!task) return;
    this.tasks.delete(id);
    if (task.record.serviceId !== undefined) {
      const set = this.tasksByService.get(task.record.serviceId);
      set?.delete(task);
      if (set?.size === 0) this.tasksByService.delete(task.record.serviceId);
    }
    unbindOwner(task.refs, task.key);
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
    const bindings = this.index.get(netId)?.names.get(name);
    if (!bindings || bindings.length === 0) return 'absent';
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
            const v = b.svc.vips.get(netId);
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
          const a = b.task.addrs.get(netId);
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
      if (t.record.healthy && t.addrs.has(netId)) out.push(t);
    }
    return out;
  }

  private pushTaskAddrs(out: ResourceRecord[], svc: ServiceState, netId: NetworkId, v4: boolean, v6: boolean): void {
    for (const t of this.healthyTasks(svc, netId)) this.pushAddrs(out, t.addrs.get(netId)!, v4, v6, this.taskTtl);
  }

  private pushSrv(out: ResourceRecord[], svc: ServiceState, port: ServicePort, netId: NetworkId): void {
    for (const t of this.healthyTasks(svc, netId)) {
      out.push({ type: RRType.SRV, ttl: this.taskTtl, priority: 0, weight: 0, port: port.targetPort, target: t.record.name.toLowerCase() });
    }
  }

  private resolveReverse(q: Question, nets: readonly NetworkId[]): Resolution {
    const address = reverseNameToAddress(q.name);
    if (address === undefined) return FORWARD;
    const key = ptrKeyOf(address);
    for (const netId of nets) {
      const entry = this.index.get(netId)?.ptr.get(key)?.[0];
      const net = this.networks.get(netId);
      if (!entry || !net) continue;
      if (q.type !== RRType.PTR && q.type !== RRType.ANY) return answer([]);
      const ttl = entry.ttl === 'service' ? this.serviceTtl : this.taskTtl;
      return answer([{ type: RRType.PTR, ttl, target: `${entry.name}.${net.name}` }]);
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

function ownerKeyOf(b: Binding): string {
  return b.kind === 'task' ? b.task.key : b.svc.key;
}

function bind(refs: Ref[], idx: NetworkIndex, name: string, b: Binding): void {
  const list = idx.names.get(name);
  if (list) list.push(b);
  else idx.names.set(name, [b]);
  refs.push({ idx, map: 'names', key: name });
}

function addPtr(refs: Ref[], idx: NetworkIndex, key: string, e: PtrEntry): void {
  const list = idx.ptr.get(key);
  if (list) list.push(e);
  else idx.ptr.set(key, [e]);
  refs.push({ idx, map: 'ptr', key });
}

/** Drops every binding and PTR entry of one owner; the maps stay free of empty lists. */
function unbindOwner(refs: readonly Ref[], ownerKey: string): void {
  for (const r of refs) {
    if (r.map === 'names') {
      const list = r.idx.names.get(r.key);
      if (!list) continue;
      const kept = list.filter((b) => ownerKeyOf(b) !== ownerKey);
      if (kept.length === 0) r.idx.names.delete(r.key);
      else r.idx.names.set(r.key, kept);
    } else {
      const list = r.idx.ptr.get(r.key);
      if (!list) continue;
      const kept = list.filter((e) => e.ownerKey !== ownerKey);
      if (kept.length === 0) r.idx.ptr.delete(r.key);
      else r.idx.ptr.set(r.key, kept);
    }
  }
}
