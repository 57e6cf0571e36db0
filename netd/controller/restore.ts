// Restore after a restart. A restarted agentd hands desired state back to netd task by task, as
// each resumed task's runner reaches start or wait; the first reconcile must wait for that, or
// it would take their live links (and whole overlay namespaces) for stale ones and cut their
// traffic. This notes which tasks have been plumbed (or let go) since start.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogFn } from '../../base/index.js';

/** How long the first reconcile waits for resumed tasks to be plumbed again before going ahead. */
const RESTORE_WAIT_MS = 60_000;
const RESTORE_POLL_MS = 250;

export class RestoreTracker {
  private readonly settled = new Set<string>();
  /** Only the restore needs the record; after it nothing is kept. */
  private restoring = true;

  /** The task has been through attach or detach (or has no network netd plumbs). */
  note(taskId: string): void {
    if (this.restoring) this.settled.add(taskId);
  }

  /**
   * Resolves once every task `pending()` names (the resumed tasks that may own links, as the
   * agent sees them now) has been noted; after `waitMs` it resolves anyway (a task whose sandbox
   * is not running retries forever, and its links are dead already).
   */
  async restored(pending: () => Iterable<string>, log: LogFn, waitMs = RESTORE_WAIT_MS): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const left = [...pending()].filter((id) => !this.settled.has(id));
      if (left.length === 0) break;
      if (Date.now() - t0 >= waitMs) {
        this.done();
        log('warn', 'data plane: resumed tasks not plumbed again in time; reconciling without them', { tasks: left, waitedMs: Date.now() - t0 });
        return;
      }
      await sleep(RESTORE_POLL_MS);
    }
    log('debug', 'data plane: desired state restored', { waitedMs: Date.now() - t0 });
    this.done();
  }

  private done(): void {
    this.restoring = false;
    this.settled.clear();
  }
}
