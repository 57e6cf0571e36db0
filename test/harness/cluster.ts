// The usual interop setup: a real Swarm manager on host 0, and a berth node on host 1 (its own
// dockerd + agentd, joined and connected). Everything is torn down through `teardown`.
import { createHosts, type TestHost, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdOptions, type AgentdProcess } from '../../scripts/lib/agentd.js';
import type { AgentStatus } from '../../agent/agent.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';

export interface BerthCluster {
  underlay: Underlay;
  manager: SwarmManager;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  status: AgentStatus;
}

export interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

export async function startBerthCluster(t: Teardown, agentd: Partial<AgentdOptions> = {}): Promise<BerthCluster> {
  const underlay = await createHosts(2);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const engine = await startDockerd({ host: underlay.hosts[1]! });
  t.teardown(() => engine.stop());
  const a = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, ...agentd });
  t.teardown(() => a.destroy());
  const status = await waitConnected(a);
  return { underlay, manager, engine, agentd: a, status };
}

export interface BerthNode {
  host: TestHost;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  /** The Swarm node id. */
  id: string;
}

export interface BerthNodes {
  underlay: Underlay;
  manager: SwarmManager;
  /** Hosts 1..n, in order. */
  nodes: BerthNode[];
}

/**
 * A real Swarm manager on host 0 and `count` berth nodes on hosts 1..count, each with its own
 * dockerd and agentd, all joined and connected. The engines start side by side (image imports
 * dominate), the agents one after another (each join is a CSR the manager signs).
 */
export async function startBerthNodes(t: Teardown, count: number, agentd: Partial<AgentdOptions> = {}): Promise<BerthNodes> {
  const underlay = await createHosts(count + 1);
  t.teardown(() => underlay.destroy());
  const hosts = underlay.hosts.slice(1);
  const [manager, engines] = await Promise.all([
    startSwarmManager(underlay.hosts[0]!).then((m) => (t.teardown(() => m.stop()), m)),
    Promise.all(hosts.map((host) => startDockerd({ host }).then((e) => (t.teardown(() => e.stop()), e)))),
  ]);
  const nodes: BerthNode[] = [];
  for (const [i, host] of hosts.entries()) {
    const engine = engines[i]!;
    const a = await startAgentd({ host, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, ...agentd });
    const { nodeId } = await waitConnected(a, 60_000);
    t.teardown(async () => {
      await a.destroy();
      await new TaskDirs().removeOwnedBy(nodeId);
    });
    nodes.push({ host, engine, agentd: a, id: nodeId });
  }
  return { underlay, manager, nodes };
}
