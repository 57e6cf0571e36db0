// The usual interop setup: a real Swarm manager on host 0, and a berth node on host 1 (its own
// dockerd + agentd, joined and connected). Everything is torn down through `teardown`.
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdOptions, type AgentdProcess } from '../../scripts/lib/agentd.js';
import type { AgentStatus } from '../../agent/agent.js';

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
