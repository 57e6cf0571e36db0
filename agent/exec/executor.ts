// The runtime contract between the worker and whatever runs tasks (SwarmKit's
// agent/exec, made async with AbortSignal). The Docker executor implements it (issue #4).
import type * as api from '../proto/api.js';

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
}

/** A controller failure that says whether retrying makes sense and carries an exit code. */
export class TaskError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly opts: { temporary?: boolean; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TaskError';
  }
  get temporary(): boolean {
    return this.opts.temporary ?? false;
  }
  get exitCode(): number | undefined {
    return this.opts.exitCode;
  }
}
