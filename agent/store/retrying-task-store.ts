// The agent's handle on its task store. A write the disk refuses does not throw: it waits in
// memory, merged per task (the task's newest value, its newest status, the highest reported
// seq; a removal drops the rest), and StateWrites retries it with backoff. Reads show only
// what is stored, so the reporter never sends a status that is not on disk, and a new task is
// not run until its record is stored (the worker asks putTask). A handle that failed half way
// (E_STORE_FAILED) is reopened, and everything re-synced in a fresh snapshot before any
// status is reported again: what the old handle wrote cannot be trusted to have reached the
// disk once its fdatasync failed.
import { StoreError } from './errors.js';
import type { StateWrites } from './state-writes.js';
import type { TaskRecord, StoredStatus } from './state.js';
import type { UnreportedStatus } from './task-store.js';

/** What this needs of a TaskStore (the unit tests put a fault-injecting fake in between). */
export interface TaskStoreHandle {
  putTask(id: string, task: unknown): boolean;
  putStatus(id: string, status: StoredStatus): number;
  markReported(id: string, seq: number): void;
  remove(id: string): boolean;
  list(): ReadonlyArray<TaskRecord>;
  get(id: string): TaskRecord | undefined;
  unreported(): ReadonlyArray<UnreportedStatus>;
  durable(): Promise<void>;
  compact(): void;
  recoveryLoss(): string | undefined;
  close(): void;
}

interface PendingWrites {
  remove?: true;
  task?: unknown;
  status?: StoredStatus;
  reported?: number;
}

export class RetryingTaskStore {
  private handle: TaskStoreHandle;
  /** The handle failed half way: reopen and re-sync before anything is reported. */
  private broken = false;
  private readonly pending = new Map<string, PendingWrites>();

  constructor(
    private readonly open: () => TaskStoreHandle,
    private readonly writes: StateWrites,
  ) {
    this.handle = open();
  }

  /** Stores the task's value; returns whether the store holds it now (false: it waits for the disk). */
  putTask(id: string, task: unknown): boolean {
    this.merge(id, (p) => (p.task = task));
    return !this.pending.has(id);
  }

  putStatus(id: string, status: StoredStatus): void {
    this.merge(id, (p) => (p.status = status));
  }

  markReported(id: string, seq: number): void {
    this.merge(id, (p) => (p.reported = Math.max(p.reported ?? 0, seq)));
  }

  remove(id: string): void {
    this.pending.set(id, { remove: true });
    this.writes.run(`task ${id}`, () => this.flush(id));
  }

  list(): ReadonlyArray<TaskRecord> {
    return this.handle.list();
  }

  get(id: string): TaskRecord | undefined {
    return this.handle.get(id);
  }

  /** Stored statuses the manager has not acknowledged; one whose acknowledgement waits for the disk is left out. */
  unreported(): UnreportedStatus[] {
    if (this.broken) return [];
    return this.handle.unreported().filter((u) => (this.pending.get(u.id)?.reported ?? -1) < u.seq);
  }

  async durable(): Promise<void> {
    if (this.broken) throw new StoreError('E_STORE_FAILED', 'the task store is being reopened after a failed write; statuses wait until it is re-synced', { temporary: true });
    try {
      await this.handle.durable();
    } catch (err) {
      if ((err as StoreError).code === 'E_STORE_FAILED') this.markBroken(err);
      throw err;
    }
  }

  recoveryLoss(): string | undefined {
    return this.handle.recoveryLoss();
  }

  close(): void {
    this.handle.close();
  }

  private merge(id: string, change: (p: PendingWrites) => void): void {
    const p = this.pending.get(id) ?? {};
    change(p);
    this.pending.set(id, p);
    this.writes.run(`task ${id}`, () => this.flush(id));
  }

  private flush(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    // The reopen is a write of its own ('task store'), retried until it works.
    if (this.broken) throw new StoreError('E_STORE_FAILED', `task ${id}: the task store is being reopened after a failed write`, { temporary: true });
    try {
      if (p.remove) {
        this.handle.remove(id);
        delete p.remove;
      }
      if (p.task !== undefined) {
        this.handle.putTask(id, p.task);
        delete p.task;
      }
      if (p.status) {
        this.handle.putStatus(id, p.status);
        delete p.status;
      }
      if (p.reported !== undefined) {
        this.handle.markReported(id, p.reported);
        delete p.reported;
      }
    } catch (err) {
      if ((err as StoreError).code === 'E_STORE_FAILED') this.markBroken(err);
      // Not the disk: a caller's bug that no retry mends.
      else if ((err as StoreError).code !== 'E_IO') this.pending.delete(id);
      throw err;
    }
    this.pending.delete(id);
  }

  private markBroken(err: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.writes.defer('task store', () => this.repair(), err);
  }

  private repair(): void {
    try {
      this.handle.close();
    } catch {
      // The failed handle's fd: what it wrote is re-synced below from what the reopen reads.
    }
    this.handle = this.open();
    this.handle.compact();
    this.broken = false;
  }
}
