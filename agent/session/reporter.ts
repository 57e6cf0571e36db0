// Sends persisted task statuses to the manager in batches. Only the newest unreported status
// of each task is sent (states only increase, so it subsumes the older ones); a status is sent
// only once it is on disk, so the manager never hears of a state that power loss could take
// back, and marked reported only after the manager accepted the batch, so a crash or a broken
// session re-sends it rather than losing it.
import type { StatusUpdate } from './session.js';
import { toWireStatus } from '../worker/task-codec.js';
import type { StoredStatus } from '../store/index.js';
import type { LogFn } from '../../base/index.js';

const REPORT_MAX_BATCH = 200;
const REPORT_RETRY_MS = 1_000;

export interface ReporterStore {
  /** One entry per task with an unreported status: its newest. */
  unreported(): ReadonlyArray<{ id: string; seq: number; status: StoredStatus }>;
  /** Never throws for the disk: a write it refuses is retried, and the status is left out of unreported() meanwhile. */
  markReported(id: string, seq: number): void;
  /** Resolves once every write so far is on disk. */
  durable(): Promise<void>;
}

export interface StatusSender {
  sendStatuses(updates: readonly StatusUpdate[]): Promise<void>;
  readonly closed: boolean;
}

export class StatusReporter {
  private sender: StatusSender | undefined;
  private scheduled: NodeJS.Immediate | undefined;
  private flushing = false;
  private again = false;
  reportedCount = 0;

  constructor(
    private readonly store: ReporterStore,
    private readonly log: LogFn,
    /** The manager accepted these statuses (the worker times its tasks by it). */
    private readonly onReported?: (reported: ReadonlyArray<{ id: string; state: number }>) => void,
  ) {}

  setSender(sender: StatusSender | undefined): void {
    this.sender = sender;
    if (sender) this.notify();
  }

  /**
   * Sends what is unreported once this turn of the event loop is done: the statuses stored in it
   * go in one UpdateTaskStatus, and those stored while it is in flight (its disk sync and the
   * manager's answer) go in the next. A fixed batching delay only held the last task of a burst
   * back; the manager batches its own store writes anyway.
   */
  notify(): void {
    if (this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.flush().catch((err: unknown) => {
        this.log('error', 'task status report stopped on an unexpected error; will retry', { err: (err as Error).message });
        setTimeout(() => this.notify(), REPORT_RETRY_MS).unref();
      });
    });
  }

  /** Newest unreported status per task, in the order the tasks last changed (the store keeps
   *  only the newest per task). */
  pending(): Array<{ id: string; seq: number; status: StoredStatus }> {
    return this.store.unreported().map((u) => ({ id: u.id, seq: u.seq, status: u.status }));
  }

  async flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        const sender = this.sender;
        if (!sender || sender.closed) return;
        const batch = this.pending().slice(0, REPORT_MAX_BATCH);
        if (batch.length === 0) return;
        try {
          await this.store.durable();
          await sender.sendStatuses(batch.map((b) => ({ taskId: b.id, status: toWireStatus(b.status) })));
        } catch (err) {
          this.log('warn', 'task status report failed; will retry', { err: (err as Error).message, tasks: batch.length });
          setTimeout(() => this.notify(), REPORT_RETRY_MS).unref();
          return;
        }
        for (const b of batch) this.store.markReported(b.id, b.seq);
        this.reportedCount += batch.length;
        this.onReported?.(batch.map((b) => ({ id: b.id, state: b.status.state })));
        if (batch.length === REPORT_MAX_BATCH) this.again = true;
      } while (this.again);
    } finally {
      this.flushing = false;
    }
  }
}
