// The ports this node publishes, as one state written to berth's host rules: the routing mesh's
// (every ingress-mode port of every service on the ingress network, DNAT-ed to the ingress
// namespace) and each local task's mode=host ports (DNAT-ed to that task). Every change is one
// write of the whole state; a write that fails (a port in use) leaves the previous state.
import type { LogFn } from '../../base/index.js';
import { NetdValidationError } from '../errors.js';
import type { HostRules, PublishedPort } from '../nat/index.js';
import type { LbService } from '../vip/index.js';
import type { TaskNetworks } from './task-networks.js';

/** berth's host rules as published ports use them. */
export type HostRulesPort = Pick<HostRules, 'setState' | 'ensure'>;

export class PublishedPorts {
  private ingress: PublishedPort[] = [];
  private readonly byTask = new Map<string, PublishedPort[]>();
  private ingressAddress: string | undefined;
  /** Recorded, not written, until release() (a restart: until desired state is back). */
  private held = false;

  constructor(
    private readonly rules: HostRulesPort,
    private readonly log: LogFn,
  ) {}

  hold(): void {
    this.held = true;
  }

  async release(): Promise<void> {
    this.held = false;
    await this.write();
    await this.rules.ensure();
  }

  /** Rewrites the rules as they should be (reconcile). */
  async ensure(): Promise<void> {
    if (!this.held) await this.rules.ensure();
  }

  /** A task's mode=host ports, DNAT-ed to its gateway address on this node only. A port in use
   *  or published by another task throws, naming the port, and nothing changes. */
  async setTask(task: TaskNetworks, gatewayAddress: string | undefined): Promise<void> {
    const ports: PublishedPort[] = task.ports.flatMap((p) =>
      p.publishMode === 'host' && p.publishedPort && (p.protocol === 'tcp' || p.protocol === 'udp')
        ? [{ protocol: p.protocol, port: p.publishedPort, mode: 'host' as const, address: gatewayAddress ?? '', targetPort: p.targetPort, owner: task.taskId }]
        : [],
    );
    if (ports.length === 0 || JSON.stringify(this.byTask.get(task.taskId)) === JSON.stringify(ports)) return;
    if (!gatewayAddress) throw new NetdValidationError('E_INVALID_PORT', `port ${ports[0]!.port}/${ports[0]!.protocol} (mode=host): this node has no gateway bridge to publish it on`);
    const before = this.byTask.get(task.taskId);
    this.byTask.set(task.taskId, ports);
    try {
      await this.write();
    } catch (err) {
      if (before) this.byTask.set(task.taskId, before);
      else this.byTask.delete(task.taskId);
      throw err;
    }
  }

  async removeTask(taskId: string): Promise<void> {
    if (!this.byTask.delete(taskId)) return;
    await this.write().catch((err: Error) => this.log('warn', 'published ports not updated', { err: err.message }));
  }

  /** The routing mesh's ports follow the ingress network's services (after each apply). */
  setIngressServices(services: readonly LbService[]): void {
    const seen = new Set<string>();
    const ports: PublishedPort[] = [];
    for (const p of services.flatMap((s) => s.ports)) {
      const key = `${p.protocol}/${p.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      ports.push({ protocol: p.protocol, port: p.port, mode: 'ingress' });
    }
    if (JSON.stringify(ports) === JSON.stringify(this.ingress)) return;
    const before = this.ingress;
    this.ingress = ports;
    this.write().catch((err: Error) => {
      this.ingress = before;
      this.log('warn', 'routing-mesh ports not published', { ports: ports.map((p) => `${p.port}/${p.protocol}`), err: err.message });
    });
  }

  /** Where routing-mesh ports go: the ingress namespace's gateway-bridge address. */
  async setIngressAddress(address: string | undefined): Promise<void> {
    this.ingressAddress = address;
    await this.write();
  }

  private write(): Promise<void> {
    if (this.held) return Promise.resolve();
    return this.rules.setState([...this.ingress, ...[...this.byTask.values()].flat()], this.ingressAddress);
  }
}
