// The runtime contract between the worker and whatever runs tasks (SwarmKit's
// agent/exec, made async with AbortSignal). The Docker executor implements it (issue #4).
import type * as api from '../proto/api.js';
import { BerthError } from '../../base/index.js';
import type { NetworkKey } from '../../netd/index.js';

export interface ExitStatus {
  exitCode: number;
  /** Engine-side reason, e.g. "container unhealthy" or "OOMKilled". */
  reason?: string;
}

export interface ContainerStatusReport {
  containerId: string;
  pid: number;
  exitCode: number;
}

export interface Controller {
  /** Everything needed to start: image, sandbox, networks, secrets. Idempotent. */
  prepare(signal: AbortSignal): Promise<void>;
  start(signal: AbortSignal): Promise<void>;
  /** Resolves when the task's process exits; rejects (with an ExitError) on non-zero exit. */
  wait(signal: AbortSignal): Promise<ExitStatus>;
  /** Graceful stop with the task's signal and grace period. */
  shutdown(signal: AbortSignal): Promise<void>;
  /** Immediate stop. */
  terminate(): Promise<void>;
  /** Removes every resource the task created. Idempotent. */
  remove(): Promise<void>;
  /** Container details for status reports, when there is a container. */
  containerStatus?(): Promise<ContainerStatusReport | undefined>;
  close(): void;
}

/** Where a controller looks up the secrets and configs its task references. */
export interface DependencyGetter {
  secret(id: string): api.Secret | undefined;
  config(id: string): api.Config | undefined;
}

/** What a LogBroker subscription asks for (SwarmKit's SubscriptionMessage minus bookkeeping). */
export interface LogSubscription {
  id: string;
  selector: { service_ids: string[]; node_ids: string[]; task_ids: string[] };
  options: { streams: number[]; follow: boolean; tail: string; since: { seconds: string; nanos: number } | null } | null;
}

/**
 * Optional ability of an executor: the logs of the tasks on this node that match a
 * subscription, as batches of LogBroker messages. Without `follow` the iterable ends once the
 * matching tasks' logs so far are out; with it, it runs (picking up new tasks) until `signal`
 * aborts.
 */
export interface LogSource {
  subscribeLogs(sub: LogSubscription, signal: AbortSignal): AsyncIterable<api.LogMessageIn[]>;
}

export function isLogSource(x: unknown): x is LogSource {
  return typeof (x as Partial<LogSource> | undefined)?.subscribeLogs === 'function';
}

export interface SecretsSink {
  setSecret(secret: api.Secret): void;
  removeSecret(id: string): void;
  setConfig(config: api.Config): void;
  removeConfig(id: string): void;
}

export interface Executor {
  /** Platform, resources and engine; the agent adds hostname and TLS info. */
  describe(): Promise<api.NodeDescriptionIn>;
  controller(task: api.Task): Controller;
  /** Where the worker hands secrets and configs from assignments (in memory only). */
  readonly dependencies: SecretsSink;
  /**
   * Removes what earlier runs left behind for tasks the agent no longer knows (containers,
   * per-task directories), sparing `keepTaskIds`. Call once at start, after the worker loaded
   * its stored tasks and before it acts on new assignments.
   */
  cleanupOrphans?(keepTaskIds: ReadonlySet<string>, nodeId: string): Promise<{ containers: string[]; taskDirs: string[] }>;
  /**
   * The manager's network bootstrap keys (gossip, IPsec), each time they change (SwarmKit's
   * SetNetworkBootstrapKeys): they reach the node's networking through the executor.
   */
  setNetworkBootstrapKeys?(keys: readonly NetworkKey[]): void;
  /**
   * The node object from the manager, each time it changes (SwarmKit's Executor.Configure): its
   * network attachments carry this node's load-balancer address per network.
   */
  configure?(node: api.Node): Promise<void>;
}

/** A controller failure that says whether retrying makes sense and carries an exit code. */
export class TaskError extends BerthError {
  /** The container's exit code, when the failure is its exit. */
  readonly exitCode: number | undefined;

  constructor(code: string, message: string, opts: { temporary?: boolean; exitCode?: number; cause?: unknown } = {}) {
    super(code, message, opts);
    this.exitCode = opts.exitCode;
  }
}
