// The NodeDescription a worker sends with every Session: what the scheduler knows of us.
import os from 'node:os';
import type Docker from 'dockerode';
import type { NodeDescriptionIn } from './proto/api.js';

// What the Docker executor supports; Docker's own worker reports the same built-ins. The
// manager's scheduler places a task only on a node listing every network driver the task's
// networks use, so overlay is listed only when this node can plumb overlays (netd's data plane up).
const ENGINE_NETWORK_PLUGINS = ['bridge', 'host', 'null'];
const OVERLAY_PLUGIN = 'overlay';
const VOLUME_PLUGINS = ['local'];

export interface HostInventory {
  hostname: string;
  architecture: string;
  os: string;
  nanoCpus: number;
  memoryBytes: number;
}

/** The figures Docker's worker reports (the engine's NCPU: the CPUs this process may run on;
 *  MemTotal of /proc/meminfo), read the same way, without spawning or parsing anything. */
export async function hostInventory(hostname: string): Promise<HostInventory> {
  return {
    hostname,
    architecture: os.machine(),
    os: os.platform(),
    nanoCpus: os.availableParallelism() * 1e9,
    memoryBytes: os.totalmem(),
  };
}

export interface EngineInventory {
  version: string;
  labels: Record<string, string>;
  logDrivers: string[];
}

export async function engineInventory(docker: Docker): Promise<EngineInventory> {
  const info = (await docker.info()) as { ServerVersion?: string; Labels?: string[]; Plugins?: { Log?: string[] } };
  const labels: Record<string, string> = {};
  for (const l of info.Labels ?? []) {
    const i = l.indexOf('=');
    if (i > 0) labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return { version: info.ServerVersion ?? 'unknown', labels, logDrivers: info.Plugins?.Log ?? [] };
}

export interface NodeAbilities {
  /** Whether this node programs overlay networks (agentd's data plane is up). */
  overlay: boolean;
}

export function buildNodeDescription(host: HostInventory, engine: EngineInventory, abilities: NodeAbilities, tls?: NodeDescriptionIn['tls_info']): NodeDescriptionIn {
  const networkPlugins = abilities.overlay ? [...ENGINE_NETWORK_PLUGINS, OVERLAY_PLUGIN] : ENGINE_NETWORK_PLUGINS;
  return {
    hostname: host.hostname,
    platform: { architecture: host.architecture, os: host.os },
    resources: { nano_cpus: String(host.nanoCpus), memory_bytes: String(host.memoryBytes), generic: [] },
    engine: {
      engine_version: engine.version,
      labels: engine.labels,
      plugins: [
        ...networkPlugins.map((name) => ({ type: 'Network', name })),
        ...VOLUME_PLUGINS.map((name) => ({ type: 'Volume', name })),
        ...engine.logDrivers.map((name) => ({ type: 'Log', name })),
      ],
    },
    ...(tls ? { tls_info: tls } : {}),
  };
}
