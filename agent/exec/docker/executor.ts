// The Docker executor: describes the node from the local engine, makes a controller per task,
// answers log subscriptions from container logs, and cleans up what belongs to no task.
import os from 'node:os';
import Docker from 'dockerode';
import type { LogMessageIn, NodeDescriptionIn, Task } from '../../proto/api.js';
import { buildNodeDescription, engineInventory, hostInventory } from '../../node-description.js';
import type { Executor, LogSource, LogSubscription, SandboxNetworking } from '../executor.js';
import { InMemoryDependencies } from '../dependencies.js';
import type { NodeInfo } from './container-config.js';
import { DockerController } from './controller.js';
import { cleanupOrphans, type OrphanReport } from './inventory.js';
import { DockerLogSource } from './logs.js';
import { DEFAULT_TASKS_ROOT, TaskDirs } from './task-dir.js';

/** The sandbox image: the native pause program (native/pause), imported locally. */
export const DEFAULT_PAUSE_IMAGE = 'berth/pause:local';
export const DEFAULT_DEPENDENCY_WAIT_MS = 15_000;

export interface DockerExecutorOptions {
  /** Where per-task tmpfs directories are mounted (default /run/berth/tasks). */
  tasksRoot?: string;
  /** Give every task a sandbox container owning its netns (default false until the data plane
   *  plumbs sandboxes; with it off the task container runs with NetworkMode none). */
  sandbox?: boolean;
  pauseImage?: string;
  /** The node's hostname as reported to the manager, for {{.Node.Hostname}} templates (default os.hostname()). */
  hostname?: string;
  /** How long prepare waits for a secret/config that has not arrived yet (default 15 s). */
  dependencyWaitMs?: number;
  /** The node's overlay + DNS plumbing for sandboxes (needs sandbox: true). */
  networking?: SandboxNetworking;
  /** The sandbox's engine network for tasks without overlays (bridge unless the engine has none). */
  defaultSandboxNetwork?: 'bridge' | 'none';
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
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

  constructor(
    readonly docker: Docker,
    private readonly opts: DockerExecutorOptions = {},
  ) {
    this.taskDirs = new TaskDirs(opts.tasksRoot ?? DEFAULT_TASKS_ROOT);
    this.logSource = new DockerLogSource(docker, { log: opts.log });
  }

  async describe(): Promise<NodeDescriptionIn> {
    const [host, engine] = await Promise.all([hostInventory(''), engineInventory(this.docker)]);
    return buildNodeDescription(host, engine);
  }

  private node(task: Task): NodeInfo {
    return { id: task.node_id, hostname: this.opts.hostname ?? os.hostname(), architecture: os.machine(), os: os.platform() };
  }

  controller(task: Task): DockerController {
    return new DockerController(
      {
        docker: this.docker,
        dependencies: this.dependencies,
        taskDirs: this.taskDirs,
        sandboxImage: this.opts.sandbox ? (this.opts.pauseImage ?? DEFAULT_PAUSE_IMAGE) : undefined,
        node: this.node(task),
        dependencyWaitMs: this.opts.dependencyWaitMs ?? DEFAULT_DEPENDENCY_WAIT_MS,
        networking: this.opts.sandbox ? this.opts.networking : undefined,
        defaultSandboxNetwork: this.opts.defaultSandboxNetwork ?? 'bridge',
      },
      task,
    );
  }

  subscribeLogs(sub: LogSubscription, signal: AbortSignal): AsyncIterable<LogMessageIn[]> {
    return this.logSource.subscribeLogs(sub, signal);
  }

  cleanupOrphans(keepTaskIds: ReadonlySet<string>, nodeId: string): Promise<OrphanReport> {
    return cleanupOrphans(this.docker, this.taskDirs, keepTaskIds, nodeId);
  }
}
