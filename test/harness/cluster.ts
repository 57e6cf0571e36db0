// The usual interop setup: a real Swarm manager on host 0, and a berth node on host 1 (its own
// dockerd + agentd, joined and connected). Everything is torn down through `teardown`.
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
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

/** One berth node of a multi-node cluster: its engine, its agentd and its node id. */
export interface BerthNode {
  engine: PrivateDockerd;
  agent: AgentdProcess;
  id: string;
}

/** A real manager on host 0 and `count` berth nodes on hosts 1..count, joined and connected. */
export async function startBerthNodes(t: Teardown, count: number): Promise<{ underlay: Underlay; manager: SwarmManager; nodes: BerthNode[] }> {
  const underlay = await createHosts(count + 1);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const nodes: BerthNode[] = [];
  for (const host of underlay.hosts.slice(1)) {
    const engine = await startDockerd({ host });
    t.teardown(() => engine.stop());
    const agent = await startAgentd({ host, dockerd: engine, manager: manager.address, joinToken: manager.workerToken });
    const id = (await waitConnected(agent)).nodeId;
    t.teardown(async () => {
      await agent.destroy();
      await new TaskDirs().removeOwnedBy(id);
    });
    nodes.push({ engine, agent, id });
  }
  return { underlay, manager, nodes };
}
