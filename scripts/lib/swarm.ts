// A real Swarm manager, or several of one swarm: private dockerds in test hosts' namespaces that ran
// `swarm init` (the first) and `swarm join` with the manager token (the others).
import { startDockerd, type PrivateDockerd } from './dockerd.js';
import type { TestHost } from './hosts.js';

const SWARM_PORT = 2377;

export interface SwarmManager {
  readonly dockerd: PrivateDockerd;
  /** host:port of the manager's gRPC API. */
  readonly address: string;
  readonly workerToken: string;
  readonly managerToken: string;
  readonly nodeId: string;
  readonly caCertPath: string;
  stop(): Promise<void>;
}

export async function startSwarmManager(host: TestHost): Promise<SwarmManager> {
  return initSwarm(await startDockerd({ host }), host);
}

/** Runs `swarm init` on an engine already running in `host`'s namespace (stopped if it fails). */
export async function initSwarm(dockerd: PrivateDockerd, host: TestHost): Promise<SwarmManager> {
  try {
    await dockerd.docker(['swarm', 'init', '--advertise-addr', host.address, '--listen-addr', `${host.address}:${SWARM_PORT}`]);
    const workerToken = (await dockerd.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    const managerToken = (await dockerd.docker(['swarm', 'join-token', '-q', 'manager'])).stdout.trim();
    return await managerOn(dockerd, host, workerToken, managerToken);
  } catch (err) {
    await dockerd.stop().catch(() => undefined);
    throw err;
  }
}

/**
 * Makes an engine already running in `host`'s namespace another manager of `first`'s swarm
 * (`swarm join` with the manager token; stopped if it fails). Join one at a time: each join is a
 * raft membership change.
 */
export async function joinSwarmAsManager(dockerd: PrivateDockerd, host: TestHost, first: SwarmManager): Promise<SwarmManager> {
  try {
    await dockerd.docker(['swarm', 'join', '--token', first.managerToken, '--advertise-addr', host.address, '--listen-addr', `${host.address}:${SWARM_PORT}`, first.address]);
    return await managerOn(dockerd, host, first.workerToken, first.managerToken);
  } catch (err) {
    await dockerd.stop().catch(() => undefined);
    throw err;
  }
}

async function managerOn(dockerd: PrivateDockerd, host: TestHost, workerToken: string, managerToken: string): Promise<SwarmManager> {
  const nodeId = (await dockerd.docker(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  return {
    dockerd,
    address: `${host.address}:${SWARM_PORT}`,
    workerToken,
    managerToken,
    nodeId,
    caCertPath: `${dockerd.dataRoot}/swarm/certificates/swarm-root-ca.crt`,
    stop: () => dockerd.stop(),
  };
}
