// Drives one task through its states with its controller, one step at a time: every status
// is persisted (and so queued for the manager) before the next step acts on it.
import type { Task } from '../proto/api.js';
import { TaskError, type Controller, type Executor } from '../exec/executor.js';
import { TaskState, checkForward, failureState, nextStep, stateName, type ControllerOp, type Step } from './task-state.js';
import type { StoredStatus } from '../store/index.js';
import type { LogFn } from '../../base/index.js';

/** Pause between retries of a step that failed with a temporary error. */
const RETRY_DELAY_MS = 1_000;
const RETRY_DELAY_MAX_MS = 10_000;

export interface RunnerDeps {
  executor: Executor;
  /** Persists and queues the status (a write the disk refuses is retried, never thrown); throws if it would move backwards. */
  saveStatus(taskId: string, status: StoredStatus): void;
  log: LogFn;
}

export class TaskRunner {
  private task: Task;
  private status: StoredStatus;
  private controller: Controller | undefined;
  private wake: (() => void) | undefined;
  private inflight: AbortController | undefined;
  private stopped = false;
  private readonly loopDone: Promise<void>;

  constructor(task: Task, status: StoredStatus, private readonly deps: RunnerDeps) {
    this.task = task;
    this.status = status;
    // A throw here is a bug (the store retries what the disk refuses), yet it must not end
    // agentd and every other task with it.
    this.loopDone = this.loop().catch((err: unknown) => {
      this.deps.log('error', 'task runner stopped on an unexpected error', { task: this.task.id, err: (err as Error).message });
    });
  }

  get id(): string {
    return this.task.id;
  }

  get current(): { task: Task; status: StoredStatus } {
    return { task: this.task, status: this.status };
  }

  /** A newer copy of the task from the manager (usually a raised desired state). */
  update(task: Task): void {
    const raisedTo = task.desired_state as number;
    this.task = task;
    // Any step in flight yields to a shutdown request (SwarmKit cancels the outstanding
    // operation too): a start waiting for a health that never comes, or a prepare pulling an
    // image, would otherwise hold the task below SHUTDOWN — and the manager's updater waits for
    // the old task of a slot to stop before it starts the new one. A shutdown runs to its end.
    if (raisedTo >= TaskState.SHUTDOWN && this.inflight && this.inflightOp !== 'shutdown') this.inflight.abort();
    this.wake?.();
  }

  private inflightOp: ControllerOp | undefined;

  private setStatus(next: Omit<StoredStatus, 'timestamp'>): void {
    checkForward(this.status.state, next.state);
    const s: StoredStatus = { ...next, timestamp: new Date().toISOString() };
    this.deps.saveStatus(this.task.id, s);
    this.status = s;
  }

  private ctl(): Controller {
    this.controller ??= this.deps.executor.controller(this.task);
    return this.controller;
  }

  private async loop(): Promise<void> {
    let retryDelay = RETRY_DELAY_MS;
    while (!this.stopped) {
      const step: Step = nextStep(this.status.state, this.task.desired_state as number);
      if (step.kind === 'noop') {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      if (step.kind === 'transition') {
        this.setStatus({ state: step.to, message: step.message });
        continue;
      }
      try {
        await this.call(step);
        retryDelay = RETRY_DELAY_MS;
      } catch (err) {
        if (this.stopped) return;
        if (this.inflightAborted) {
          this.inflightAborted = false;
          continue;
        }
        const temporary = err instanceof TaskError ? err.temporary : false;
        const message = (err as Error).message;
        if (temporary) {
          this.deps.log('warn', 'task step failed, retrying', { task: this.task.id, op: step.op, err: message });
          await new Promise((r) => setTimeout(r, retryDelay));
          retryDelay = Math.min(retryDelay * 2, RETRY_DELAY_MAX_MS);
          continue;
        }
        const exitCode = err instanceof TaskError ? err.exitCode : undefined;
        const container = await this.containerStatus(exitCode);
        this.setStatus({ state: failureState(this.status.state), message: step.op === 'wait' ? 'started' : `${step.op} failed`, err: message, ...(container ? { container } : {}) });
      }
    }
  }

  private inflightAborted = false;

  private async containerStatus(exitCode?: number): Promise<StoredStatus['container']> {
    try {
      const s = await this.controller?.containerStatus?.();
      if (!s) return undefined;
      return { ...s, exitCode: exitCode ?? s.exitCode };
    } catch {
      return undefined;
    }
  }

  private async call(step: Extract<Step, { kind: 'call' }>): Promise<void> {
    const ac = new AbortController();
    this.inflight = ac;
    this.inflightOp = step.op;
    try {
      const c = this.ctl();
      switch (step.op) {
        case 'prepare':
          await c.prepare(ac.signal);
          break;
        case 'start':
          await c.start(ac.signal);
          break;
        case 'wait': {
          await c.wait(ac.signal);
          break;
        }
        case 'shutdown':
          await c.shutdown(ac.signal);
          break;
      }
    } catch (err) {
      if (ac.signal.aborted) this.inflightAborted = true;
      throw err;
    } finally {
      this.inflight = undefined;
      this.inflightOp = undefined;
    }
    if (this.stopped) return;
    const container = step.op === 'start' || step.op === 'wait' || step.op === 'shutdown' ? await this.containerStatus() : undefined;
    this.setStatus({ state: step.to, message: step.message, ...(container ? { container } : {}) });
    this.deps.log('info', `task ${stateName(step.to)}`, { task: this.task.id });
  }

  /** Stops driving the task (the container is left alone). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.inflight?.abort();
    this.wake?.();
    await this.loopDone.catch(() => undefined);
  }

  /** Stops driving and removes every resource of the task. */
  async remove(): Promise<void> {
    await this.stop();
    const c = this.controller ?? this.deps.executor.controller(this.task);
    try {
      await c.remove();
    } finally {
      c.close();
    }
  }
}
