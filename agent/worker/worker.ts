// The worker applies assignments in order — secrets, configs, then tasks — persisting every
// task before acting on it, and keeps one TaskRunner per task. On restart it resumes every
// stored task from its stored status. A new task the disk cannot take yet waits, unstarted,
// until the store holds it (storeProgressed); a known task's update and every status go on in
// memory while the store retries their writes.
import type { AssignmentsMessage, Config, Secret, Task } from '../proto/api.js';
import type { Executor } from '../exec/executor.js';
import { SessionError } from '../errors.js';
import { TaskRunner } from './task-runner.js';
import { TaskState, isTerminal, stateName } from './task-state.js';
import { decodeTask, encodeTask, fromWireStatus } from './task-codec.js';
import { isUsableTaskId, taskProblem } from './validate-task.js';
import { AssignmentAction, AssignmentsType } from '../proto/enums.js';
import type { StoredStatus } from '../store/index.js';
import { byCodeUnit, type LogFn } from '../../base/index.js';
import { taskRunningEvents } from '../events.js';

const REMOVE_RETRY_MS = 1_000;
const REMOVE_RETRY_MAX_MS = 30_000;
/**
 * Task removals in flight at once. They run beside the assignment stream, not inside it: after
 * a restart that missed many REMOVEs, a COMPLETE set can drop hundreds of tasks, and removing
 * them one by one inside the message held every later assignment (a shutdown among them) for
 * over a minute on a loaded engine.
 */
const REMOVALS_AT_ONCE = 8;

/** What the worker needs of the persistent store (agent/store implements it). */
export interface WorkerStore {
  /** Returns whether the store holds the task now; false: the write waits for the disk and is retried. */
  putTask(id: string, task: unknown): boolean;
  /** Never throws for the disk: a write it refuses is retried (agent/store RetryingTaskStore). */
  putStatus(id: string, status: StoredStatus): void;
  remove(id: string): void;
  list(): ReadonlyArray<{ id: string; task: unknown; status?: StoredStatus | undefined }>;
}

export interface WorkerDeps {
  store: WorkerStore;
  executor: Executor;
  /** Called after every persisted status so the reporter can send it. */
  onStatus(): void;
  log: LogFn;
}

export interface TaskView {
  id: string;
  service: string;
  slot: string;
  desired: string;
  state: string;
  message: string;
  err?: string;
  image?: string;
}

/** One task in detail (agentctl task <id>). */
export interface TaskDetail extends TaskView {
  serviceId: string;
  nodeId: string;
  /** When the task's current status was set (ISO). */
  since: string;
  networks: Array<{ id: string; name: string; addresses: string[] }>;
  /** When this agentd saw the task's assignment and stored each state since, and when the
   *  manager acknowledged its RUNNING status (epoch ms); only for tasks assigned while it ran. */
  timings?: TaskTimings;
}

/** Epoch ms, sub-millisecond: one task's way from its assignment to RUNNING reported. */
export interface TaskTimings {
  assigned: number;
  /** State name → when it was stored. */
  stored: Record<string, number>;
  /** When the manager acknowledged the RUNNING status. */
  runningReported?: number;
}

const epochMs = (): number => performance.timeOrigin + performance.now();

export class Worker {
  private readonly runners = new Map<string, TaskRunner>();
  /** Tasks we hold without a runner: rejected on arrival, or already terminal. */
  private readonly parked = new Map<string, { task: Task; status: StoredStatus }>();
  /** New tasks whose record the store could not write yet: not run until it is stored. */
  private readonly unstored = new Map<string, Task>();
  private lastResultsIn: string | undefined;
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** Removals waiting for a free slot, and how many run (REMOVALS_AT_ONCE at most). */
  private readonly removalQueue: Array<() => Promise<void>> = [];
  private removalsRunning = 0;
  private removalsIdle: Array<() => void> = [];
  /** Ids of the secrets and configs handed to the executor's store: a COMPLETE set drops
   *  every one it does not name (SwarmKit's worker resets its stores on a COMPLETE set). */
  private readonly held = { secrets: new Set<string>(), configs: new Set<string>() };
  private closed = false;
  /** Timings of each task assigned (below RUNNING) while this agentd ran, until it is removed:
   *  the assignment-to-running latency and where it went. Tasks resumed from the store are not timed. */
  private readonly timings = new Map<string, TaskTimings>();

  constructor(private readonly deps: WorkerDeps) {}

  /** Loads every stored task and resumes it. */
  init(): void {
    for (const rec of this.deps.store.list()) {
      const task = decodeTask(rec.task);
      const status = rec.status ?? fromWireStatus(task.status) ?? initialStatus();
      this.track(task, status);
    }
    this.deps.log('info', 'worker resumed tasks from the store', { tasks: this.runners.size + this.parked.size });
  }

  /** A new session starts with a COMPLETE set; forget the previous stream's version. */
  resetStream(): void {
    this.lastResultsIn = undefined;
  }

  async assign(msg: AssignmentsMessage): Promise<void> {
    const type = msg.type;
    if (type === AssignmentsType.INCREMENTAL && msg.applies_to !== (this.lastResultsIn ?? '')) {
      throw new SessionError(
        'E_ASSIGNMENTS_OUT_OF_SYNC',
        `INCREMENTAL assignments apply to version ${JSON.stringify(msg.applies_to)} but the last applied is ${JSON.stringify(this.lastResultsIn ?? '')}: resyncing`,
        { temporary: true },
      );
    }
    const secrets: Secret[] = [];
    const configs: Config[] = [];
    const tasks: Task[] = [];
    const removed = { secrets: [] as string[], configs: [] as string[], tasks: [] as string[] };
    for (const change of msg.changes) {
      const a = change.assignment;
      if (!a) continue;
      const remove = change.action === AssignmentAction.REMOVE;
      if (a.secret) {
        if (remove) removed.secrets.push(a.secret.id);
        else secrets.push(a.secret);
      } else if (a.config) {
        if (remove) removed.configs.push(a.config.id);
        else configs.push(a.config);
      } else if (a.task) {
        if (remove) removed.tasks.push(a.task.id);
        else tasks.push(a.task);
      }
    }
    const deps = this.deps.executor.dependencies;
    for (const s of secrets) deps.setSecret(s);
    for (const c of configs) deps.setConfig(c);
    for (const t of tasks) {
      // Without a usable id there is nothing to store and no way to report on it: skip it.
      if (!isUsableTaskId(t.id)) {
        this.deps.log('warn', 'ignoring an assigned task without a valid id', { id: JSON.stringify(t.id), service: t.service_id });
        continue;
      }
      this.upsert(t);
    }
    if (type === AssignmentsType.COMPLETE) {
      const keep = new Set(tasks.map((t) => t.id).filter(isUsableTaskId));
      for (const id of [...this.runners.keys(), ...this.parked.keys(), ...this.unstored.keys()]) if (!keep.has(id)) removed.tasks.push(id);
      const keepSecrets = new Set(secrets.map((s) => s.id));
      const keepConfigs = new Set(configs.map((c) => c.id));
      for (const id of this.held.secrets) if (!keepSecrets.has(id)) removed.secrets.push(id);
      for (const id of this.held.configs) if (!keepConfigs.has(id)) removed.configs.push(id);
    }
    for (const s of secrets) this.held.secrets.add(s.id);
    for (const c of configs) this.held.configs.add(c.id);
    for (const id of removed.tasks) if (isUsableTaskId(id)) this.removeTask(id);
    for (const id of removed.secrets) {
      deps.removeSecret(id);
      this.held.secrets.delete(id);
    }
    for (const id of removed.configs) {
      deps.removeConfig(id);
      this.held.configs.delete(id);
    }
    this.lastResultsIn = msg.results_in;
  }

  private upsert(task: Task): void {
    const runner = this.runners.get(task.id);
    if (runner) {
      this.deps.store.putTask(task.id, encodeTask(task));
      runner.update(task);
      return;
    }
    const parked = this.parked.get(task.id);
    if (parked) {
      this.deps.store.putTask(task.id, encodeTask(task));
      parked.task = task;
      return;
    }
    const managerStatus = fromWireStatus(task.status) ?? initialStatus();
    if (managerStatus.state < TaskState.RUNNING && !this.timings.has(task.id)) this.timings.set(task.id, { assigned: epochMs(), stored: {} });
    if (!this.deps.store.putTask(task.id, encodeTask(task))) {
      if (!this.unstored.has(task.id)) this.deps.log('warn', 'task not started: its record waits for the task store', { task: task.id });
      this.unstored.set(task.id, task);
      return;
    }
    this.unstored.delete(task.id);
    const problem = taskProblem(task);
    if (problem) {
      this.deps.log('warn', 'rejecting malformed task', { task: task.id, err: problem });
      const rejected: StoredStatus = { state: TaskState.REJECTED, message: 'rejected', err: problem, timestamp: new Date().toISOString() };
      this.saveStatus(task.id, rejected);
      this.parked.set(task.id, { task, status: rejected });
      return;
    }
    this.track(task, managerStatus);
  }

  /** The store wrote what waited: start the new tasks it now holds. */
  storeProgressed(): void {
    if (this.closed) return;
    for (const task of [...this.unstored.values()]) this.upsert(task);
  }

  private track(task: Task, status: StoredStatus): void {
    if (isTerminal(status.state) || taskProblem(task)) {
      this.parked.set(task.id, { task, status });
      return;
    }
    this.runners.set(
      task.id,
      new TaskRunner(task, status, {
        executor: this.deps.executor,
        saveStatus: (id, s) => this.saveStatus(id, s),
        log: this.deps.log,
      }),
    );
  }

  private saveStatus(id: string, status: StoredStatus): void {
    this.deps.store.putStatus(id, status);
    const timings = this.timings.get(id);
    if (timings) {
      const name = stateName(status.state);
      if (timings.stored[name] === undefined) {
        const at = epochMs();
        timings.stored[name] = at;
        if (status.state === TaskState.RUNNING) taskRunningEvents.publish({ taskId: id, ms: at - timings.assigned });
      }
    }
    const parked = this.parked.get(id);
    if (parked) parked.status = status;
    this.deps.onStatus();
  }

  /** The manager acknowledged these statuses (the reporter's callback). */
  statusesReported(reported: ReadonlyArray<{ id: string; state: number }>): void {
    const at = epochMs();
    for (const r of reported) {
      const timings = this.timings.get(r.id);
      if (timings && r.state === TaskState.RUNNING) timings.runningReported ??= at;
    }
  }

  /**
   * Takes the task off at once (its runner stops driving it, it leaves every view) and queues
   * the removal of its resources; the record goes from the store once they are gone.
   */
  private removeTask(id: string): void {
    this.timings.delete(id);
    if (this.unstored.delete(id)) {
      // Nothing ran; the removal also drops the record's write still waiting.
      this.deps.store.remove(id);
      return;
    }
    const runner = this.runners.get(id);
    this.runners.delete(id);
    const parked = this.parked.get(id);
    this.parked.delete(id);
    const task = runner?.current.task ?? parked?.task;
    const stopped = runner?.stop();
    this.removalQueue.push(async () => {
      try {
        await stopped;
        if (runner) await runner.remove();
        else if (task && !taskProblem(task)) await this.deps.executor.controller(task).remove();
      } catch (err) {
        // Keep the record so the removal is retried (and survives a restart) rather than leaking
        // the container and its secrets.
        this.deps.log('warn', 'removing task resources failed; will retry', { task: id, err: (err as Error).message });
        if (task) this.retryRemoval(id, task, REMOVE_RETRY_MS);
        return;
      }
      // Assigned again meanwhile (a manager's later set): its new record stays.
      if (!this.isAssigned(id)) this.deps.store.remove(id);
    });
    this.pumpRemovals();
  }

  /** Whether the manager's current set holds the task (a runner, parked, or waiting for the store). */
  private isAssigned(id: string): boolean {
    return this.runners.has(id) || this.parked.has(id) || this.unstored.has(id);
  }

  private pumpRemovals(): void {
    while (this.removalsRunning < REMOVALS_AT_ONCE && this.removalQueue.length > 0) {
      const job = this.removalQueue.shift()!;
      this.removalsRunning++;
      void job().finally(() => {
        this.removalsRunning--;
        if (this.closed) this.removalQueue.length = 0;
        this.pumpRemovals();
        if (this.removalsRunning === 0 && this.removalQueue.length === 0) for (const done of this.removalsIdle.splice(0)) done();
      });
    }
  }

  /** Resolves once no task removal is queued or running (tests; a clean close). */
  removalsSettled(): Promise<void> {
    if (this.removalsRunning === 0 && this.removalQueue.length === 0) return Promise.resolve();
    return new Promise((r) => this.removalsIdle.push(r));
  }

  private retryRemoval(id: string, task: Task, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retries.delete(id);
      if (this.closed || this.isAssigned(id)) return;
      this.deps.executor
        .controller(task)
        .remove()
        .then(
          () => {
            if (!this.isAssigned(id)) this.deps.store.remove(id);
          },
          (err: unknown) => {
            this.deps.log('warn', 'removing task resources failed; will retry', { task: id, err: (err as Error).message });
            this.retryRemoval(id, task, Math.min(delayMs * 2, REMOVE_RETRY_MAX_MS));
          },
        );
    }, delayMs);
    timer.unref();
    this.retries.set(id, timer);
  }

  /**
   * Tasks whose sandbox may be plumbed and whose runner will call its controller again: what a
   * restarted agent's networking waits for before its first reconcile. A task prepared but held
   * at READY stays idle until started (which plumbs it again).
   */
  tasksOwningSandboxes(): string[] {
    const out: string[] = [];
    const consider = (task: Task, status: StoredStatus) => {
      const state = status.state;
      if (state < TaskState.PREPARING || state >= TaskState.COMPLETE) return;
      if (state === TaskState.READY && (task.desired_state as number) <= TaskState.READY) return;
      out.push(task.id);
    };
    for (const r of this.runners.values()) consider(r.current.task, r.current.status);
    for (const p of this.parked.values()) consider(p.task, p.status);
    return out;
  }

  tasks(): TaskView[] {
    const views: TaskView[] = [];
    const add = (task: Task, status: StoredStatus) =>
      views.push({
        id: task.id,
        service: task.service_annotations?.name || task.service_id,
        slot: String(task.slot),
        desired: stateName(task.desired_state),
        state: stateName(status.state),
        message: status.message,
        ...(status.err ? { err: status.err } : {}),
        ...(task.spec?.container?.image ? { image: task.spec.container.image } : {}),
      });
    for (const r of this.runners.values()) add(r.current.task, r.current.status);
    for (const p of this.parked.values()) add(p.task, p.status);
    for (const task of this.unstored.values()) add(task, { ...(fromWireStatus(task.status) ?? initialStatus()), message: 'waiting for the task store (state dir degraded)' });
    return views.sort((a, b) => byCodeUnit(a.service, b.service) || byCodeUnit(a.slot, b.slot) || byCodeUnit(a.id, b.id));
  }

  /** The task with this id, or one whose id starts with it when only one does; undefined if none. */
  task(idOrPrefix: string): TaskDetail | undefined {
    const all: Array<{ task: Task; status: StoredStatus }> = [
      ...[...this.runners.values()].map((r) => r.current),
      ...this.parked.values(),
      ...[...this.unstored.values()].map((task) => ({ task, status: fromWireStatus(task.status) ?? initialStatus() })),
    ];
    const exact = all.filter((x) => x.task.id === idOrPrefix);
    const found = exact.length === 1 ? exact : idOrPrefix.length > 0 ? all.filter((x) => x.task.id.startsWith(idOrPrefix)) : [];
    if (found.length !== 1) return undefined;
    const { task, status } = found[0]!;
    const view = this.tasks().find((v) => v.id === task.id)!;
    const timings = this.timings.get(task.id);
    return {
      ...view,
      serviceId: task.service_id,
      nodeId: task.node_id,
      since: status.timestamp,
      networks: (task.networks ?? []).map((n) => ({ id: n.network?.id ?? '', name: n.network?.spec?.annotations?.name ?? '', addresses: [...(n.addresses ?? [])] })),
      ...(timings ? { timings: { ...timings, stored: { ...timings.stored } } } : {}),
    };
  }

  /** Stops driving tasks (containers keep running) — used on agent shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retries.values()) clearTimeout(t);
    // Queued removals are dropped: their records stay in the store, so the next start removes them.
    this.removalQueue.length = 0;
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    await this.removalsSettled();
  }
}

function initialStatus(): StoredStatus {
  return { state: TaskState.ASSIGNED, message: 'assigned', timestamp: new Date().toISOString() };
}
