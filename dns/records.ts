// The write side of the names: what the node's network controller says of the tasks on this
// node's networks — its own, and other nodes' endpoints from the cluster's gossip. Each task says
// what it knows of its service; the service record the name table holds is their union,
// reference-counted here in one place (as libnetwork keeps its service bindings) and gone with
// the last task that spoke for it. Every record is checked on its own before anything changes, so
// a bad one (from another node, most likely) is refused alone, counted, and never reaches the
// merge that the next good task of the same service goes through.
import { DnsError } from './errors.js';
import {
  checkNetwork,
  checkService,
  checkTask,
  type NameTable,
  type NetworkId,
  type NetworkRecord,
  type RecordProblem,
  type RejectReason,
  type ServiceNetwork,
  type ServicePort,
  type ServiceRecord,
  type TaskRecord,
} from './name-table.js';

/** What the node's network controller writes: the names of tasks on this node's networks, its own and other nodes'. */
export interface NameRecords {
  /** Adds or replaces a network's name (`<name>.<network>` forms). Throws E_DNS_BAD_RECORD (counted) for a name that is not a DNS name. */
  setNetwork(n: NetworkRecord): void;
  /**
   * Adds or replaces a task's names and its contribution to its service's record (a task — local, or another
   * node's endpoint (`task.remote`) — says what it knows of its service; the service record is the union of what
   * its tasks say, local contributions first (they carry the ports), kept while any task is left). A task whose
   * serviceId changed leaves its old service; a task given without `service` says nothing of one (it still joins
   * tasks.<svc> of its serviceId while that service has a record). Atomic: a record that is not valid (a name that
   * is not a DNS name, an address that is not IP, a bad port, `service.id` not the task's serviceId...) throws
   * DnsError E_DNS_BAD_RECORD, changes nothing, and is counted; it never spoils the merged record of other tasks of
   * the same service.
   */
  setTask(task: TaskRecord, service?: ServiceRecord): void;
  /** Health only: healthy tasks are in tasks.<svc>, dnsrr and SRV answers. No-op for an unknown task. */
  setTaskHealthy(taskId: string, healthy: boolean): void;
  /** Drops the task's names and its contribution (the service goes with its last contributor). */
  removeTask(taskId: string): void;
}

export interface RecordStats {
  networks: number;
  services: number;
  tasks: number;
  /** Records refused (setNetwork, setTask), since start. */
  rejected: number;
  rejectedBy: Record<RejectReason, number>;
}

/** What one service's tasks say of it, each map in the order its tasks first spoke. */
interface Contributions {
  local: Map<string, ServiceRecord>;
  remote: Map<string, ServiceRecord>;
  /** Their merge: what the name table holds. */
  merged: ServiceRecord | undefined;
}

/** NameRecords over a NameTable: the only writer of its service records. */
export class NameRegistry implements NameRecords {
  private readonly services = new Map<string, Contributions>();
  /** The service each contributing task speaks for. */
  private readonly contributorOf = new Map<string, string>();
  private rejected = 0;
  private readonly rejectedBy: Record<RejectReason, number> = { name: 0, address: 0, port: 0, shape: 0 };

  constructor(private readonly table: NameTable) {}

  setNetwork(n: NetworkRecord): void {
    const p = checkNetwork(n);
    if (p) throw this.reject(p);
    this.table.setNetwork(n);
  }

  setTask(task: TaskRecord, service?: ServiceRecord): void {
    const p = checkTask(task) ?? (service === undefined ? undefined : (checkService(service) ?? serviceMismatch(task, service)));
    if (p) throw this.reject(p);
    // Both records are good, and so is any merge of good records: nothing below throws.
    this.table.setTask(task);
    const before = this.contributorOf.get(task.id);
    if (before !== undefined && before !== service?.id) this.withdraw(before, task.id);
    if (service) this.contribute(task.id, task.remote === true, service);
  }

  setTaskHealthy(taskId: string, healthy: boolean): void {
    this.table.setTaskHealthy(taskId, healthy);
  }

  removeTask(taskId: string): void {
    this.table.removeTask(taskId);
    const serviceId = this.contributorOf.get(taskId);
    if (serviceId !== undefined) this.withdraw(serviceId, taskId);
  }

  stats(): RecordStats {
    const { networks, services, tasks } = this.table.size();
    return { networks, services, tasks, rejected: this.rejected, rejectedBy: { ...this.rejectedBy } };
  }

  private reject(p: RecordProblem): DnsError {
    this.rejected++;
    this.rejectedBy[p.reason]++;
    return new DnsError('E_DNS_BAD_RECORD', p.message);
  }

  private contribute(taskId: string, remote: boolean, service: ServiceRecord): void {
    let c = this.services.get(service.id);
    if (!c) this.services.set(service.id, (c = { local: new Map(), remote: new Map(), merged: undefined }));
    // Most tasks of a service say what the merge already says. A task new to the service that
    // does cannot change the merge (wherever it ranks, what it brings is already there), so it
    // keeps the merged record itself rather than its own copy, and nothing is merged again: a
    // service of n tasks arriving one by one (other nodes' endpoints at a bulk sync) cost n
    // merges of up to n records, and n records held.
    const isNew = !c.local.has(taskId) && !c.remote.has(taskId);
    if (isNew && c.merged && sameService(c.merged, service)) {
      (remote ? c.remote : c.local).set(taskId, c.merged);
      this.contributorOf.set(taskId, service.id);
      return;
    }
    (remote ? c.local : c.remote).delete(taskId);
    (remote ? c.remote : c.local).set(taskId, service);
    this.contributorOf.set(taskId, service.id);
    this.publish(c);
  }

  private withdraw(serviceId: string, taskId: string): void {
    this.contributorOf.delete(taskId);
    const c = this.services.get(serviceId);
    if (!c || !(c.local.delete(taskId) || c.remote.delete(taskId))) return;
    if (c.local.size === 0 && c.remote.size === 0) {
      this.services.delete(serviceId);
      this.table.removeService(serviceId);
    } else {
      this.publish(c);
    }
  }

  /** Writes the merge to the table when it differs from what is there (most tasks of a service
   *  say the same thing: the table, and the answers kept against its generation, stay as they are). */
  private publish(c: Contributions): void {
    const merged = merge([...c.local.values(), ...c.remote.values()]);
    if (c.merged && sameService(c.merged, merged)) return;
    this.table.setService(merged);
    c.merged = merged;
  }
}

function serviceMismatch(task: TaskRecord, service: ServiceRecord): RecordProblem | undefined {
  if (task.serviceId === service.id) return undefined;
  return { reason: 'shape', message: `task ${task.id}: its service record is for ${JSON.stringify(service.id)}, but its serviceId is ${JSON.stringify(task.serviceId)}` };
}

/**
 * One service record from what its tasks say, local ones first: id, name, mode and ports from
 * the first that has ports (else the first), each network from the first that names it.
 */
function merge(parts: readonly ServiceRecord[]): ServiceRecord {
  const base = parts.find((r) => (r.ports ?? []).length > 0) ?? parts[0]!;
  const networks = new Map<NetworkId, ServiceNetwork>();
  for (const r of parts) for (const n of r.networks) if (!networks.has(n.networkId)) networks.set(n.networkId, n);
  return { id: base.id, name: base.name, endpointMode: base.endpointMode, networks: [...networks.values()], ...(base.ports ? { ports: base.ports } : {}) };
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function samePort(a: ServicePort, b: ServicePort): boolean {
  return a.name === b.name && a.protocol === b.protocol && a.targetPort === b.targetPort && a.publishedPort === b.publishedPort;
}

/** Equal for the name table: the same names, addresses and ports bound. */
function sameService(a: ServiceRecord, b: ServiceRecord): boolean {
  const pa = a.ports ?? [];
  const pb = b.ports ?? [];
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.endpointMode === b.endpointMode &&
    a.networks.length === b.networks.length &&
    a.networks.every((n, i) => {
      const m = b.networks[i]!;
      return n.networkId === m.networkId && sameStrings(n.vips, m.vips) && sameStrings(n.aliases, m.aliases);
    }) &&
    pa.length === pb.length &&
    pa.every((p, i) => samePort(p, pb[i]!))
  );
}
