// Every write agentd makes to its state dir goes through here, so a full disk or an I/O error
// never ends the process (systemd would only restart it into the same failure). A write the
// disk refuses is kept, by key, newest version only, and retried with backoff; meanwhile the
// node is degraded — logged, and shown by `agentctl status` (SwarmKit's dispatcher has no
// worker-set node status: the manager alone sets Node.Status, from sessions and heartbeats).
// Tasks keep running; what was not written is never reported to the manager, because the
// reporter reads only what the task store holds.
import { StoreError } from './errors.js';
import { jitteredBackoff } from '../session/remotes.js';
import type { LogFn } from '../../base/index.js';

export const WRITE_RETRY_INITIAL_MS = 200;
export const WRITE_RETRY_MAX_MS = 5_000;

export interface StateDirHealth {
  state: 'ok' | 'degraded';
  /** When the current degraded period began. */
  since: string | undefined;
  lastError: string | undefined;
  /** Writes waiting for the disk (by key: a task, managers.json, the root CA, the certificates). */
  pendingWrites: number;
  /** Failed write attempts since start, retries included. */
  failedAttempts: number;
  degradedPeriods: number;
  /** How long the last finished degraded period lasted. */
  lastDegradedMs: number | undefined;
}

/** A write that failed because of the disk or the file system, not because of its input. */
export function isIoError(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === 'E_IO' || err.code === 'E_STORE_FAILED';
  return typeof (err as NodeJS.ErrnoException | undefined)?.syscall === 'string';
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

export interface StateWritesOptions {
  log: LogFn;
  /** After a retry round that wrote something: what waited on it can go on (report, start tasks). */
  onProgress?: () => void;
  /** The node became degraded or recovered (see health()). */
  onHealthChange?: () => void;
}

export class StateWrites {
  private readonly pending = new Map<string, () => void>();
  /** Keys whose retry runs elsewhere (the certificate renewal); they hold the node degraded. */
  private readonly external = new Map<string, string>();
  private readonly backoff = jitteredBackoff(WRITE_RETRY_INITIAL_MS, WRITE_RETRY_MAX_MS);
  private timer: NodeJS.Timeout | undefined;
  private degradedSince: number | undefined;
  private lastError: string | undefined;
  private failedAttempts = 0;
  private degradedPeriods = 0;
  private lastDegradedMs: number | undefined;
  private closed = false;

  constructor(private readonly opts: StateWritesOptions) {}

  /**
   * Writes now, unless a write with this key already waits (then this one replaces it and goes
   * with the next retry). An I/O error keeps it for retry and returns false; any other error is
   * the caller's and is thrown. Returns whether it was written now.
   */
  run(key: string, write: () => void): boolean {
    if (this.pending.has(key)) {
      this.pending.set(key, write);
      return false;
    }
    try {
      write();
      return true;
    } catch (err) {
      if (!isIoError(err)) throw err;
      this.pending.set(key, write);
      this.failed(key, err);
      return false;
    }
  }

  /** Something failed on the disk already (a sync): `write` mends it, with the next retry. */
  defer(key: string, write: () => void, err: unknown): void {
    this.pending.set(key, write);
    this.failed(key, err);
  }

  /** A write retried by its owner failed on the disk: the node is degraded until noteWritten(key). */
  noteFailure(key: string, err: unknown): void {
    this.external.set(key, describe(err));
    this.failed(key, err);
  }

  noteWritten(key: string): void {
    if (this.external.delete(key)) this.maybeRecovered();
  }

  health(): StateDirHealth {
    return {
      state: this.degradedSince === undefined ? 'ok' : 'degraded',
      since: this.degradedSince === undefined ? undefined : new Date(this.degradedSince).toISOString(),
      lastError: this.lastError,
      pendingWrites: this.pending.size + this.external.size,
      failedAttempts: this.failedAttempts,
      degradedPeriods: this.degradedPeriods,
      lastDegradedMs: this.lastDegradedMs,
    };
  }

  /** Stops retrying; returns how many writes were still waiting (they are lost with the process). */
  close(): number {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.pending.size;
  }

  private failed(key: string, err: unknown): void {
    this.failedAttempts++;
    this.lastError = describe(err);
    if (this.degradedSince === undefined) {
      this.degradedSince = Date.now();
      this.degradedPeriods++;
      this.opts.log('error', 'a state dir write failed: agentd is degraded; tasks keep running, the write is retried and nothing unstored is reported', {
        write: key,
        err: this.lastError,
      });
      this.opts.onHealthChange?.();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed || this.pending.size === 0) return;
    this.timer = setTimeout(() => this.retry(), this.backoff.next());
    this.timer.unref();
  }

  private retry(): void {
    this.timer = undefined;
    let wrote = false;
    for (const [key, write] of [...this.pending]) {
      try {
        write();
        if (this.pending.get(key) === write) this.pending.delete(key);
        wrote = true;
      } catch (err) {
        this.failedAttempts++;
        this.lastError = describe(err);
        if (!isIoError(err)) this.opts.log('error', 'a state dir write keeps failing on something other than the disk; retrying', { write: key, err: this.lastError });
      }
    }
    if (wrote) this.opts.onProgress?.();
    if (this.pending.size > 0) {
      this.opts.log('debug', 'state dir writes still failing; retrying', { pending: this.pending.size, err: this.lastError });
      this.schedule();
      return;
    }
    this.maybeRecovered();
  }

  private maybeRecovered(): void {
    if (this.degradedSince === undefined || this.pending.size > 0 || this.external.size > 0) return;
    this.lastDegradedMs = Date.now() - this.degradedSince;
    this.degradedSince = undefined;
    this.backoff.reset();
    this.opts.log('info', 'state dir writable again: agentd is no longer degraded', { degradedMs: this.lastDegradedMs, failedAttempts: this.failedAttempts });
    this.opts.onHealthChange?.();
  }
}
