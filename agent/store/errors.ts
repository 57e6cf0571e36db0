// The task store's error class. Callers branch on `code`; messages say what a person can do.
import { BerthError } from '../../base/index.js';

export type StoreErrorCode =
  /** putStatus with a lower TaskState than the stored one: a bug in the caller. */
  | 'E_STATE_BACKWARDS'
  /** putStatus for a task that was never put (or was removed). */
  | 'E_NO_TASK'
  /** A bad id, status, sequence number, option, or a value JSON cannot carry. */
  | 'E_INVALID_ARGUMENT'
  /** One serialized record exceeds MAX_PAYLOAD_BYTES. */
  | 'E_RECORD_TOO_LARGE'
  /** The snapshot fails its checksum or shape check; it is only ever replaced atomically. */
  | 'E_SNAPSHOT_CORRUPT'
  /** A log record with a valid checksum that cannot be applied (gap, unknown shape). */
  | 'E_LOG_INVALID'
  /** A log record is corrupt and intact records follow it: not a torn write; the file is left as it is. */
  | 'E_STORE_DAMAGED'
  /** Reading or writing the store's files failed; nothing was changed. */
  | 'E_IO'
  /** An earlier write failed half way; the files are fine but this handle must be reopened. */
  | 'E_STORE_FAILED'
  /** The store was closed. */
  | 'E_CLOSED'
  /** The directory is already open in this process. */
  | 'E_LOCKED';

export class StoreError extends BerthError {
  declare readonly code: StoreErrorCode;
  /** The file the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; path?: string; temporary?: boolean }) {
    super(code, message, options);
    this.path = options?.path;
  }
}
