// A real Swarm manager: a private dockerd in a test host's namespace that ran `swarm init`.
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
  const dockerd = await startDockerd({ host });
  try {
    await dockerd.docker(['swarm', 'init', '--advertise-addr', host.address, '--listen-addr', `${host.address}:${SWARM_PORT}`]);
    const workerToken = (await dockerd.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    const managerToken = (await dockerd.docker(['swarm', 'join-token', '-q', 'manager'])).stdout.trim();
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
  } catch (err) {
    await dockerd.stop().catch(() => undefined);
    throw err;
  }
}
