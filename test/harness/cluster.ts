// The usual interop setup: a real Swarm manager on host 0, and a berth node on host 1 (its own
// dockerd + agentd, joined and connected); or several berth nodes; or several real managers of
// one swarm (raft, leader election, quorum) and a berth node. Everything is torn down through
// `teardown`.
import { createHosts, type TestHost, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type DockerdOptions, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { initSwarm, joinSwarmAsManager, startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { run, waitFor, type RunResult } from '../../scripts/lib/exec.js';
import { startAgentd, waitConnected, type AgentdOptions, type AgentdProcess } from '../../scripts/lib/agentd.js';
import type { AgentStatus } from '../../agent/agent.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';
import { readFileSync } from 'node:fs';

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

export async function startBerthCluster(t: Teardown, agentd: Partial<AgentdOptions> = {}, engineOptions: Omit<DockerdOptions, 'host'> = {}): Promise<BerthCluster> {
  const underlay = await createHosts(2);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const engine = await startDockerd({ ...engineOptions, host: underlay.hosts[1]! });
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

/** Several real managers of one swarm. A manager may be down (`dockerd.down()`) at any time. */
export interface SwarmManagers {
  /** In join order: [0] ran `swarm init`. */
  readonly all: readonly SwarmManager[];
  /** The manager whose gRPC address is `address` (agentd's status names managers so). */
  byAddress(address: string): SwarmManager | undefined;
  /** Runs the docker CLI against the first running manager that answers it (a call that needs a
   *  leader fails on every manager while the swarm has none). */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The current leader as the managers see it; undefined while there is none. */
  leader(): Promise<SwarmManager | undefined>;
  /** Waits for a leader every manager that is up agrees on. */
  waitLeader(timeoutMs: number): Promise<SwarmManager>;
}

const MANAGER_CALL_TIMEOUT_MS = 10_000;

/**
 * `count` real managers of one swarm on `hosts[0..count-1]`: the engines start side by side,
 * then the first runs `swarm init` and the others join it as managers one after another.
 */
export async function startSwarmManagers(t: Teardown, hosts: readonly TestHost[], count = 3): Promise<SwarmManagers> {
  const engines = await Promise.all(hosts.slice(0, count).map((host) => startDockerd({ host }).then((e) => (t.teardown(() => e.stop()), e))));
  const first = await initSwarm(engines[0]!, hosts[0]!);
  const all: SwarmManager[] = [first];
  for (let i = 1; i < count; i++) all.push(await joinSwarmAsManager(engines[i]!, hosts[i]!, first));
  const docker = async (args: readonly string[], timeoutMs = MANAGER_CALL_TIMEOUT_MS): Promise<RunResult> => {
    let last: unknown = new Error('no manager is running');
    for (const m of all.filter((x) => isRunning(x.dockerd))) {
      try {
        return await m.dockerd.docker(args, timeoutMs);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };
  /** The leader as one manager sees it; undefined when it knows none (or is down). */
  const leaderSeenBy = async (m: SwarmManager): Promise<string | undefined> => {
    const out = await m.dockerd.docker(['node', 'ls', '--filter', 'role=manager', '--format', '{{.ID}} {{.ManagerStatus}}'], MANAGER_CALL_TIMEOUT_MS).catch(() => undefined);
    return out?.stdout.split('\n').find((l) => l.endsWith(' Leader'))?.split(' ')[0];
  };
  const byId = (id: string | undefined) => all.find((m) => m.nodeId === id);
  const set: SwarmManagers = {
    all,
    byAddress: (address) => all.find((m) => m.address === address),
    docker,
    async leader() {
      for (const m of all.filter((x) => isRunning(x.dockerd))) {
        const id = await leaderSeenBy(m);
        if (id) return byId(id);
      }
      return undefined;
    },
    waitLeader: (timeoutMs) =>
      waitFor(
        'the managers to agree on a leader',
        async () => {
          const up = all.filter((m) => isRunning(m.dockerd));
          const seen = await Promise.all(up.map(leaderSeenBy));
          return seen.length > 0 && seen.every((id) => id !== undefined && id === seen[0]) ? byId(seen[0]) : undefined;
        },
        timeoutMs,
        200,
      ),
  };
  await set.waitLeader(30_000);
  return set;
}

/** Whether the engine's process exists and is not stopped (SIGSTOP) or a zombie. */
export function isRunning(engine: PrivateDockerd): boolean {
  try {
    const stat = readFileSync(`/proc/${engine.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'T' && state !== 't' && state !== 'Z';
  } catch {
    return false;
  }
}

export interface MultiManagerCluster {
  underlay: Underlay;
  managers: SwarmManagers;
  /** The berth node: host `managers` (after the managers' hosts). */
  host: TestHost;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  status: AgentStatus;
}

/**
 * `managers` real managers of one swarm (hosts 0..managers-1) and a berth node on the next
 * host, joined through the first manager only: agentd learns the others from its session.
 */
export async function startMultiManagerCluster(t: Teardown, opts: { managers?: number; agentd?: Partial<AgentdOptions> } = {}): Promise<MultiManagerCluster> {
  const count = opts.managers ?? 3;
  const underlay = await createHosts(count + 1);
  t.teardown(() => underlay.destroy());
  const host = underlay.hosts[count]!;
  const [managers, engine] = await Promise.all([startSwarmManagers(t, underlay.hosts, count), startDockerd({ host }).then((e) => (t.teardown(() => e.stop()), e))]);
  const first = managers.all[0]!;
  const a = await startAgentd({ host, dockerd: engine, manager: first.address, joinToken: first.workerToken, ...opts.agentd });
  const status = await waitConnected(a, 60_000);
  t.teardown(async () => {
    await a.destroy();
    await new TaskDirs().removeOwnedBy(status.nodeId);
  });
  return { underlay, managers, host, engine, agentd: a, status };
}

/** Drops a host's TCP connections to `address` at once (ss -K), as a crashed peer's RST would. */
export async function killConnections(host: TestHost, address: string): Promise<void> {
  await run('nsenter', [`--net=${host.netnsPath}`, 'ss', '-K', 'dst', address]).catch(() => undefined);
}
