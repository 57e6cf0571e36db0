// The Docker executor: describes the node from the local engine, makes a controller per task,
// answers log subscriptions from container logs, and cleans up what belongs to no task.
import os from 'node:os';
// First: keeps dockerode's modem from loading ssh2 (see the module).
import './without-ssh2.js';
import Docker from 'dockerode';
import type { LogMessageIn, Node, NodeDescriptionIn, Task } from '../../proto/api.js';
import { buildNodeDescription, engineInventory, hostInventory } from '../../node-description.js';
import type { LogFn } from '../../../base/index.js';
import { overlayAttachments, type NetworkKey, type NodeNetworkAttachment, type SandboxNetworking, type TaskNetworkAttachment } from '../../../netd/index.js';
import { TaskError, type Executor, type LogSource, type LogSubscription } from '../executor.js';
import { InMemoryDependencies } from '../dependencies.js';
import { templateContext, type NodeInfo } from './container-config.js';
import { expandTemplate } from './templates.js';
import { DockerController } from './controller.js';
import { ImageInspects } from './engine.js';
import { cleanupOrphans, type OrphanReport } from './inventory.js';
import { DockerLogSource } from './logs.js';
import { nodeAttachmentsOf, taskNetworksOf } from './task-networks.js';
import { DEFAULT_TASKS_ROOT, TaskDirs } from './task-dir.js';
import { SANDBOX_IMAGE } from './sandbox-image.js';
import { SandboxPool } from './sandbox-pool.js';

const DEFAULT_DEPENDENCY_WAIT_MS = 15_000;
const NO_DATA_PLANE = "agentd's data plane is not running";

export interface DockerExecutorOptions {
  /** Where per-task tmpfs directories are mounted (default /run/berth/tasks). */
  tasksRoot?: string;
  /** Give every task a sandbox container owning its netns (default false: only tasks the
   *  networking plumbs get one, the others run as one container, as on Docker's worker). */
  sandbox?: boolean;
  pauseImage?: string;
  /** The node's hostname as reported to the manager, for {{.Node.Hostname}} templates (default os.hostname()). */
  hostname?: string;
  /** How long prepare waits for a secret/config that has not arrived yet (default 15 s). */
  dependencyWaitMs?: number;
  /** The node's overlay + DNS plumbing (netd's controller); a task it wants gets a sandbox it plumbs. */
  networking?: SandboxNetworking & { setNetworkBootstrapKeys(keys: readonly NetworkKey[]): void; setNodeAttachments(a: readonly NodeNetworkAttachment[]): Promise<void> };
  /** Why there is no `networking` (the data plane is off, or failed to open): a task on an
   *  overlay then fails with this reason instead of running without its networks. */
  noNetworkingReason?: string;
  /** The engine network for tasks berth does not plumb (bridge unless the engine has none). */
  defaultNetworkMode?: 'bridge' | 'none';
  /** Warm sandboxes for tasks without networks (see sandbox-pool.ts); 0 or unset: none. Only
   *  with defaultNetworkMode bridge. */
  sandboxPool?: number;
  log?: LogFn;
}

export function dockerClient(dockerHost: string): Docker {
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  if (u.protocol === 'tcp:' || u.protocol === 'http:') return new Docker({ host: u.hostname, port: Number(u.port || 2375) });
  throw new Error(`unsupported DOCKER_HOST ${dockerHost} (use unix:///path or tcp://host:port)`);
}

export class DockerExecutor implements Executor, LogSource {
  readonly dependencies = new InMemoryDependencies();
  readonly taskDirs: TaskDirs;
  private readonly logSource: DockerLogSource;
  private readonly images: ImageInspects;
  private readonly pool: SandboxPool | undefined;

  constructor(
    readonly docker: Docker,
    private readonly opts: DockerExecutorOptions = {},
  ) {
    this.taskDirs = new TaskDirs(opts.tasksRoot ?? DEFAULT_TASKS_ROOT);
    this.logSource = new DockerLogSource(docker, { log: opts.log });
    this.images = new ImageInspects(docker);
    const poolSize = (opts.defaultNetworkMode ?? 'bridge') === 'bridge' ? (opts.sandboxPool ?? 0) : 0;
    this.pool = poolSize > 0 ? new SandboxPool(docker, { size: poolSize, image: opts.pauseImage ?? SANDBOX_IMAGE, ...(opts.log ? { log: opts.log } : {}) }) : undefined;
  }

  /** Fills the pool of warm sandboxes, if there is one (after a join, once the node id is known). */
  async startSandboxPool(nodeId: string): Promise<void> {
    await this.pool?.start(nodeId).catch((err: Error) => this.opts.log?.('warn', 'warm sandboxes left by an earlier agentd not adopted', { err: err.message }));
  }

  /** Warm sandboxes waiting now (0 without a pool). */
  get warmSandboxes(): number {
    return this.pool?.available ?? 0;
  }

  async describe(): Promise<NodeDescriptionIn> {
    const [host, engine] = await Promise.all([hostInventory(''), engineInventory(this.docker)]);
    return buildNodeDescription(host, engine, { overlay: this.opts.networking !== undefined });
  }

  private node(task: Task): NodeInfo {
    return { id: task.node_id, hostname: this.opts.hostname ?? os.hostname(), architecture: os.machine(), os: os.platform() };
  }

  /** The hostname as the container gets it (templates expanded); a bad template is the
   *  translation's to reject, with its own message. */
  private expandedHostname(task: Task): string {
    const raw = task.spec?.container?.hostname ?? '';
    try {
      return raw && expandTemplate(raw, templateContext(task, this.node(task)));
    } catch {
      return '';
    }
  }

  controller(task: Task): DockerController {
    // A sandbox costs a second container start: only tasks berth plumbs get one by default.
    const sandboxes = this.opts.networking;
    const networks = taskNetworksOf(task, { hostname: this.expandedHostname(task) });
    const networking = sandboxes && sandboxes.wants(networks) ? { sandboxes, networks } : undefined;
    const sandboxed = this.opts.sandbox === true || networking !== undefined;
    return new DockerController(
      {
        docker: this.docker,
        images: this.images,
        dependencies: this.dependencies,
        taskDirs: this.taskDirs,
        sandboxImage: sandboxed ? (this.opts.pauseImage ?? SANDBOX_IMAGE) : undefined,
        node: this.node(task),
        dependencyWaitMs: this.opts.dependencyWaitMs ?? DEFAULT_DEPENDENCY_WAIT_MS,
        networking,
        defaultNetworkMode: this.opts.defaultNetworkMode ?? 'bridge',
        ...(this.pool && networking === undefined && !sandboxed ? { sandboxPool: this.pool } : {}),
        ...(sandboxes ? {} : { unplumbable: unplumbableNetworkError(overlayAttachments(networks), this.opts.noNetworkingReason) }),
      },
      task,
    );
  }

  subscribeLogs(sub: LogSubscription, signal: AbortSignal): AsyncIterable<LogMessageIn[]> {
    return this.logSource.subscribeLogs(sub, signal);
  }

  setNetworkBootstrapKeys(keys: readonly NetworkKey[]): void {
    this.opts.networking?.setNetworkBootstrapKeys(keys);
  }

  async configure(node: Node): Promise<void> {
    if (node.id) void this.startSandboxPool(node.id);
    await this.opts.networking?.setNodeAttachments(nodeAttachmentsOf(node));
  }

  async cleanupOrphans(keepTaskIds: ReadonlySet<string>, nodeId: string): Promise<OrphanReport> {
    try {
      return await cleanupOrphans(this.docker, this.taskDirs, keepTaskIds, nodeId);
    } finally {
      // After the cleanup, so a warm sandbox is never made for a sandbox name about to go.
      void this.startSandboxPool(nodeId);
    }
  }
}

/**
 * The error of a task on an overlay this node cannot plumb (its data plane is off or failed),
 * naming the network and why; undefined when the task is on no overlay. Such a task reaches a
 * node only when the manager placed it before the node stopped advertising the overlay driver
 * (a restart with the data plane off, say): it fails rather than run cut off from its networks.
 */
export function unplumbableNetworkError(overlays: readonly TaskNetworkAttachment[], reason = NO_DATA_PLANE): TaskError | undefined {
  const first = overlays[0];
  if (!first) return undefined;
  const names = overlays.map((a) => `"${a.network.name}" (${a.network.id})`).join(', ');
  return new TaskError(
    'E_NETWORK_UNAVAILABLE',
    `overlay network ${names}: this node cannot plumb overlays: ${reason}; run agentd with its data plane on, or constrain the service to nodes that have it`,
  );
}
