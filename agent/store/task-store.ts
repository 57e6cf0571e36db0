// The worker's crash-safe task store: each assigned task, its last status and how far the
// manager has acknowledged it, so a restarted agent resumes its tasks and reports what the
// manager has not seen. Secrets and configs never come here: they stay in memory and return
// with the manager's next complete assignment set.
//
// On disk, in one directory:
//   tasks.snapshot  the whole state as one checksummed frame, replaced atomically
//                   (tmp file, fsync, rename, fsync dir); it names the last record it contains.
//   tasks.log       records appended since that snapshot, each [u32 len][u32 crc32][JSON],
//                   numbered by a store-wide seq. Compaction writes a new snapshot, then
//                   truncates the log; a crash between the two leaves records the snapshot
//                   already holds, and replay skips them by seq.
// A write has reached the kernel when the method returns, which survives kill -9; durable()
// resolves once it is on disk too (fdatasync), which survives power loss. Writes made while a
// sync is running share the next one (group commit): a synchronous fdatasync per write blocked
// the event loop for milliseconds each while dockerd was busy writing, and slowed every task
// start on the node. With fsync: false nothing is synced.
//
// At open, a log that breaks off in a bad frame with nothing intact after it has a torn tail:
// a crash during the last append. It is cut off. A bad frame with an intact frame anywhere
// after it is damage, not a crash (appends never go past a partial frame: a failed append cuts
// it first): cutting there would drop every later record, and the agent would then remove the
// containers of those tasks as orphans. Such a log refuses to open (E_STORE_DAMAGED) and is
// left as it is. A cut tail that held a whole frame (right length, wrong checksum or JSON) may
// have been a write that returned, so the open reports it as lossy (recoveryLoss()) and the
// agent keeps containers it cannot account for.
import { channel } from 'node:diagnostics_channel';
import {
  closeSync,
  constants,
  fdatasync,
  fchmodSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CRC32_IMPL } from './crc32.js';
import { StoreError } from './errors.js';
import { MAX_PAYLOAD_BYTES, decodeFrames, encodeFrame, findFrame, type DecodeResult, type TailReason } from './framing.js';
import {
  applyRecord,
  decodeSnapshot,
  deepFreeze,
  emptyState,
  encodeSnapshot,
  nextEntry,
  parseRecord,
  statusProblem,
  type LogRecord,
  type StoreState,
  type TaskRecord,
  type StoredStatus,
} from './state.js';

export const LOG_FILE = 'tasks.log';
export const SNAPSHOT_FILE = 'tasks.snapshot';
const SNAPSHOT_TMP_FILE = 'tasks.snapshot.tmp';

/** Records in the log before the next write compacts it. */
const DEFAULT_COMPACT_EVERY = 1000;
/** Log size before the next write compacts it, whatever the record count. */
const DEFAULT_COMPACT_BYTES = 16 * 1024 * 1024;

/** diagnostics_channel names. Compaction phases: 'begin', 'snapshot' (new snapshot renamed into
 * place, log not yet reset), 'end'. Recovery: a tail was cut off at open (`lossy` as in stats). */
export const COMPACT_CHANNEL = 'berth:task-store:compact';
const RECOVER_CHANNEL = 'berth:task-store:recover';
export interface CompactEvent {
  dir: string;
  phase: 'begin' | 'snapshot' | 'end';
  lastSeq: number;
}
interface RecoverEvent {
  dir: string;
  path: string;
  offset: number;
  bytes: number;
  reason: TailReason;
  lossy: boolean;
}
const compactChannel = channel(COMPACT_CHANNEL);
const recoverChannel = channel(RECOVER_CHANNEL);

export interface TaskStoreOptions {
  /** Compact once the log holds this many records (default 1000). */
  compactEvery?: number;
  /** Compact once the log holds this many bytes (default 16 MiB). */
  compactBytes?: number;
  /** Sync writes to disk for durable() (default true). false survives a process crash, not power loss. */
  fsync?: boolean;
}

export interface UnreportedStatus {
  id: string;
  status: Readonly<StoredStatus>;
  seq: number;
}

export interface TaskStoreStats {
  dir: string;
  logBytes: number;
  /** Records in the log file, including ones the snapshot already holds. */
  logRecords: number;
  snapshotBytes: number;
  tasks: number;
  unreported: number;
  lastSeq: number;
  /** Compactions by this handle. */
  compactions: number;
  /** fdatasync calls made for durable() by this handle (one covers every write before it). */
  syncs: number;
  /** Torn or corrupt log tails cut off at open, and their bytes. */
  tornTails: number;
  truncatedBytes: number;
  /** The open cut off a whole frame, not an unfinished one: a write that returned may be lost (recoveryLoss says why). */
  lossy: boolean;
  /** Log records applied at open, and ones skipped because the snapshot held them. */
  replayedRecords: number;
  skippedRecords: number;
  crc32: 'zlib' | 'portable';
}

type RecordBody = { [K in LogRecord['op']]: Omit<Extract<LogRecord, { op: K }>, 'seq'> }[LogRecord['op']];

/** Directories open in this process; a second handle would interleave appends. */
const openDirs = new Set<string>();

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function ioError(what: string, path: string, err: unknown): StoreError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const temporary = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EINTR' || code === 'EAGAIN';
  return new StoreError('E_IO', `${what} ${path}: ${errText(err)}`, { cause: err, path, temporary });
}

/** Runs one file operation, turning its error into E_IO; `tolerate` (an errno code) yields undefined. */
function io<R>(what: string, path: string, fn: () => R): R;
function io<R>(what: string, path: string, fn: () => R, tolerate: string): R | undefined;
function io<R>(what: string, path: string, fn: () => R, tolerate?: string): R | undefined {
  try {
    return fn();
  } catch (err) {
    if (tolerate !== undefined && (err as NodeJS.ErrnoException).code === tolerate) return undefined;
    throw ioError(what, path, err);
  }
}

function fsyncDir(path: string): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Uint8Array, position: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

function readAll(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return off === size ? buf : buf.subarray(0, off);
}

/**
 * Why cutting this tail may lose a write that returned, or undefined when it is what a crash
 * during an append leaves: a frame cut short, or zeros (the file grew before its data reached
 * the disk). A whole frame that fails its checksum or JSON, or a length no record has, was
 * written out and damaged afterwards.
 */
function tailLoss(buf: Uint8Array, tail: NonNullable<DecodeResult['tail']>, logPath: string): string | undefined {
  if (tail.reason === 'short-header' || tail.reason === 'short-payload') return undefined;
  if (buf.subarray(tail.offset).every((b) => b === 0)) return undefined;
  return `the last record of ${logPath}, at byte ${tail.offset}, was whole but unreadable (${tail.reason}) and was cut off`;
}

/** E_STORE_DAMAGED, when an intact frame follows the first bad one; undefined for a torn tail. */
function damageError(buf: Uint8Array, decoded: DecodeResult, logPath: string, dir: string): StoreError | undefined {
  if (!decoded.tail) return undefined;
  const next = findFrame(buf, decoded.tail.offset + 1);
  if (!next) return undefined;
  return new StoreError(
    'E_STORE_DAMAGED',
    `task store log ${logPath} is damaged at byte ${decoded.tail.offset} (${decoded.tail.reason}), and intact records follow at byte ${next.offset}. ` +
      'A crash only ever tears the last record, so something else changed the file; cutting it there would drop the later records, so it was left as it is. ' +
      `Restore ${LOG_FILE} from a backup, or move the store directory ${dir} aside and restart: the node then starts with no tasks and the manager sends its assignments again.`,
    { path: logPath },
  );
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') {
    throw new StoreError('E_INVALID_ARGUMENT', `task id must be a non-empty string, got ${JSON.stringify(id)}`);
  }
}

function checkCount(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new StoreError('E_INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
  return v;
}

export class TaskStore<T = unknown> {
  private closed = false;
  private failed: StoreError | undefined;
  private compactions = 0;
  /** Appends made, and how many of them an fdatasync has covered. */
  private written = 0;
  private syncs = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  /** close() while a sync runs leaves the fd to that sync to close (never reuse a live fd). */
  private closeAfterSync = false;

  private constructor(
    readonly dir: string,
    private readonly fd: number,
    private readonly state: StoreState,
    private readonly fsync: boolean,
    private readonly compactEvery: number,
    private readonly compactBytes: number,
    private logBytes: number,
    private logRecords: number,
    private snapshotBytes: number,
    private readonly recovery: Pick<TaskStoreStats, 'tornTails' | 'truncatedBytes' | 'replayedRecords' | 'skippedRecords' | 'lossy'>,
    private readonly loss: string | undefined,
  ) {}

  /**
   * Opens (creating it 0700 if missing) and loads the store in `dir`. A torn log tail is cut
   * off; a bad record with intact ones after it throws E_STORE_DAMAGED and changes nothing; a
   * corrupt snapshot throws E_SNAPSHOT_CORRUPT. One handle per directory per process.
   */
  static open<T = unknown>(dir: string, opts: TaskStoreOptions = {}): TaskStore<T> {
    if (typeof dir !== 'string' || dir === '') throw new StoreError('E_INVALID_ARGUMENT', 'the task store directory must be a non-empty path');
    const compactEvery = checkCount('compactEvery', opts.compactEvery, DEFAULT_COMPACT_EVERY);
    const compactBytes = checkCount('compactBytes', opts.compactBytes, DEFAULT_COMPACT_BYTES);
    const fsync = opts.fsync !== false;
    const abs = resolve(dir);
    if (openDirs.has(abs)) {
      throw new StoreError('E_LOCKED', `task store ${abs} is already open in this process; close the other handle first`, { path: abs });
    }

    const created = io('creating directory', abs, () => mkdirSync(abs, { recursive: true, mode: 0o700 }));
    if (created !== undefined && fsync) {
      // Make each new directory entry durable, up to the one that already existed.
      for (let p = abs; p !== dirname(created); p = dirname(p)) io('syncing directory', dirname(p), () => fsyncDir(dirname(p)));
    }
    const tmpPath = join(abs, SNAPSHOT_TMP_FILE);
    io('removing leftover', tmpPath, () => unlinkSync(tmpPath), 'ENOENT');

    const snapPath = join(abs, SNAPSHOT_FILE);
    const snap = io('reading', snapPath, () => readFileSync(snapPath), 'ENOENT');
    const state = snap ? decodeSnapshot(snap, snapPath) : emptyState();

    const logPath = join(abs, LOG_FILE);
    const fd = io('opening', logPath, () => openSync(logPath, constants.O_RDWR | constants.O_CREAT, 0o600));
    try {
      const st = io('reading', logPath, () => fstatSync(fd));
      if ((st.mode & 0o777) !== 0o600) io('setting mode 0600 on', logPath, () => fchmodSync(fd, 0o600));
      if (st.size === 0 && fsync) io('syncing directory', abs, () => fsyncDir(abs));
      const buf = io('reading', logPath, () => readAll(fd, st.size));
      const decoded = decodeFrames(buf);
      const damaged = damageError(buf, decoded, logPath, abs);
      if (damaged) throw damaged;
      const loss = decoded.tail && tailLoss(buf, decoded.tail, logPath);
      const recovery = { tornTails: 0, truncatedBytes: 0, replayedRecords: 0, skippedRecords: 0, lossy: loss !== undefined };
      for (const frame of decoded.frames) {
        const rec = parseRecord(frame.value);
        const where = `${logPath} at byte ${frame.offset}`;
        const invalid = (why: string, cause?: unknown) =>
          new StoreError(
            'E_LOG_INVALID',
            `task store log ${where}: ${why}. The record has a valid checksum, so this is not a torn write: ` +
              'move the store directory aside and restart (the manager sends its assignments again).',
            { path: logPath, cause },
          );
        if (typeof rec === 'string') throw invalid(rec);
        deepFreeze(rec);
        let applied: boolean;
        try {
          applied = applyRecord(state, rec);
        } catch (err) {
          throw invalid(errText(err), err);
        }
        if (applied) recovery.replayedRecords++;
        else recovery.skippedRecords++;
      }
      if (decoded.tail) {
        io('cutting the torn tail off', logPath, () => {
          ftruncateSync(fd, decoded.validEnd);
          if (fsync) fdatasyncSync(fd);
        });
        recovery.tornTails++;
        recovery.truncatedBytes += decoded.tail.bytes;
        if (recoverChannel.hasSubscribers) {
          recoverChannel.publish({ dir: abs, path: logPath, ...decoded.tail, lossy: recovery.lossy } satisfies RecoverEvent);
        }
      }
      const store = new TaskStore<T>(
        abs,
        fd,
        state,
        fsync,
        compactEvery,
        compactBytes,
        decoded.validEnd,
        decoded.frames.length,
        snap?.length ?? 0,
        recovery,
        loss,
      );
      openDirs.add(abs);
      return store;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Stores (or replaces) a task's value; its status and counters are kept. A value whose JSON
   * equals the stored one is not written again (every session re-sends the complete assignment
   * set); returns whether anything was written.
   */
  putTask(id: string, task: T): boolean {
    checkId(id);
    if (task === undefined) throw new StoreError('E_INVALID_ARGUMENT', `task ${id}: the task value is undefined`);
    this.ensureWritable();
    const prev = this.state.tasks.get(id);
    if (prev && sameJson(prev.task, task)) return false;
    this.write({ op: 'task', id, task });
    return true;
  }

  /**
   * Records a task's status and returns its statusSeq. The state may stay or rise, never fall
   * (E_STATE_BACKWARDS). A status identical to the stored one changes nothing and returns the
   * current seq.
   */
  putStatus(id: string, status: StoredStatus): number {
    checkId(id);
    const why = statusProblem(status);
    if (why) throw new StoreError('E_INVALID_ARGUMENT', `task ${id}: ${why}`);
    this.ensureWritable();
    const prev = this.state.tasks.get(id);
    if (!prev) throw new StoreError('E_NO_TASK', `task ${id}: no such task in the store; put the task before its status`);
    if (prev.status && sameJson(prev.status, status)) return prev.statusSeq;
    this.write({ op: 'status', id, statusSeq: prev.statusSeq + 1, status });
    return prev.statusSeq + 1;
  }

  /** The manager acknowledged status `seq` of task `id`. Never lowers; unknown ids are ignored. */
  markReported(id: string, seq: number): void {
    checkId(id);
    if (!Number.isSafeInteger(seq) || seq < 0) throw new StoreError('E_INVALID_ARGUMENT', `task ${id}: seq must be a non-negative integer, got ${seq}`);
    this.ensureWritable();
    const prev = this.state.tasks.get(id);
    if (!prev || seq <= prev.reportedSeq) return;
    this.write({ op: 'reported', id, reportedSeq: seq });
  }

  /** Latest statuses the manager has not acknowledged, oldest write first; one per task. */
  unreported(): UnreportedStatus[] {
    this.ensureOpen();
    const out: UnreportedStatus[] = [];
    for (const r of this.state.pending.values()) out.push({ id: r.id, status: r.status!, seq: r.statusSeq });
    return out;
  }

  /** The stored record (deeply frozen), or undefined. */
  get(id: string): TaskRecord<T> | undefined {
    this.ensureOpen();
    return this.state.tasks.get(id) as TaskRecord<T> | undefined;
  }

  list(): TaskRecord<T>[] {
    this.ensureOpen();
    return [...this.state.tasks.values()] as TaskRecord<T>[];
  }

  /** Forgets a task and its status; returns false when there was none. */
  remove(id: string): boolean {
    checkId(id);
    this.ensureWritable();
    if (!this.state.tasks.has(id)) return false;
    this.write({ op: 'remove', id });
    return true;
  }

  /** Writes the live state as a new snapshot and empties the log. Writes call this on their own. */
  compact(): void {
    this.ensureWritable();
    const snapPath = join(this.dir, SNAPSHOT_FILE);
    const tmpPath = join(this.dir, SNAPSHOT_TMP_FILE);
    this.publishCompact('begin');
    const snap = encodeSnapshot(this.state);
    try {
      const fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
      try {
        writeAll(fd, snap, 0);
        if (this.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmpPath, snapPath);
    } catch (err) {
      // The old snapshot and the full log are still in charge: nothing is lost.
      try {
        unlinkSync(tmpPath);
      } catch {
        // already gone
      }
      throw ioError('writing snapshot', snapPath, err);
    }
    try {
      // The rename must be durable before the log it replaces is emptied.
      if (this.fsync) fsyncDir(this.dir);
      this.publishCompact('snapshot');
      ftruncateSync(this.fd, 0);
      if (this.fsync) fdatasyncSync(this.fd);
    } catch (err) {
      throw this.fail(`compacting ${this.dir}`, err);
    }
    // Everything written so far is in the synced snapshot.
    this.synced = this.written;
    this.logBytes = 0;
    this.logRecords = 0;
    this.snapshotBytes = snap.length;
    this.compactions++;
    this.publishCompact('end');
  }

  /**
   * Resolves once every write made before the call is on disk. Concurrent callers share one
   * fdatasync; one running when more writes arrive is followed by one more for them.
   */
  async durable(): Promise<void> {
    const target = this.written;
    while (this.synced < target) {
      this.ensureWritable();
      this.syncing ??= this.syncOnce();
      await this.syncing;
    }
  }

  private async syncOnce(): Promise<void> {
    const upTo = this.written;
    try {
      await new Promise<void>((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
      this.synced = Math.max(this.synced, upTo);
      this.syncs++;
    } catch (err) {
      if (!this.closed) throw this.fail(`syncing ${join(this.dir, LOG_FILE)}`, err);
    } finally {
      this.syncing = undefined;
      if (this.closeAfterSync) {
        this.closeAfterSync = false;
        closeSync(this.fd);
      }
    }
  }

  /** Closes the store; writes not yet synced are synced first (unless the store has failed). */
  close(): void {
    if (this.closed) return;
    const logPath = join(this.dir, LOG_FILE);
    // A failed store syncs nothing more: whoever waits in durable() then gets E_CLOSED, never a
    // false "on disk".
    if (!this.failed) {
      if (this.fsync && this.synced < this.written) io('syncing', logPath, () => fdatasyncSync(this.fd));
      this.synced = this.written;
    }
    this.closed = true;
    openDirs.delete(this.dir);
    if (this.syncing) this.closeAfterSync = true;
    else io('closing', logPath, () => closeSync(this.fd));
  }

  /**
   * Why the open may have lost a write that had returned, or undefined when it lost none (a torn
   * tail holds only a write that never finished). A caller that removes what the store does not
   * list (the agent's orphan cleanup) must not do so after a lossy open.
   */
  recoveryLoss(): string | undefined {
    return this.loss;
  }

  /** Counters for tests and diagnostics; also works after close. */
  stats(): TaskStoreStats {
    return {
      dir: this.dir,
      logBytes: this.logBytes,
      logRecords: this.logRecords,
      snapshotBytes: this.snapshotBytes,
      tasks: this.state.tasks.size,
      unreported: this.state.pending.size,
      lastSeq: this.state.lastSeq,
      compactions: this.compactions,
      syncs: this.syncs,
      ...this.recovery,
      crc32: CRC32_IMPL,
    };
  }

  /** Validates, compacts if due, appends durably, then applies to memory. */
  private write(body: RecordBody): void {
    this.ensureWritable();
    let json: string;
    try {
      json = JSON.stringify({ seq: this.state.lastSeq + 1, ...body });
    } catch (err) {
      throw new StoreError('E_INVALID_ARGUMENT', `task ${body.id}: the ${body.op} cannot be stored as JSON: ${errText(err)}`, { cause: err });
    }
    const payload = Buffer.from(json, 'utf8');
    if (payload.length > MAX_PAYLOAD_BYTES) {
      throw new StoreError('E_RECORD_TOO_LARGE', `task ${body.id}: the ${body.op} record is ${payload.length} bytes, over ${MAX_PAYLOAD_BYTES}`);
    }
    // What replay will see, so memory never differs from disk (dropped undefined fields etc.).
    const rec = parseRecord(JSON.parse(json));
    if (typeof rec === 'string') throw new StoreError('E_INVALID_ARGUMENT', `task ${body.id}: the ${body.op} does not survive JSON: ${rec}`);
    deepFreeze(rec);
    nextEntry(this.state.tasks.get(rec.id), rec);
    if (this.logRecords >= this.compactEvery || this.logBytes >= this.compactBytes) this.compact();
    this.append(encodeFrame(payload));
    applyRecord(this.state, rec);
    this.logRecords++;
  }

  private append(frame: Buffer): void {
    const logPath = join(this.dir, LOG_FILE);
    const at = this.logBytes;
    try {
      writeAll(this.fd, frame, at);
    } catch (err) {
      // Cut the partial frame off, or later appends would sit behind it and be lost at replay.
      try {
        ftruncateSync(this.fd, at);
        if (this.fsync) fdatasyncSync(this.fd);
      } catch (err2) {
        throw this.fail(`appending to ${logPath}`, new AggregateError([err, err2], errText(err)));
      }
      throw ioError('appending to', logPath, err);
    }
    this.logBytes = at + frame.length;
    this.written++;
    if (!this.fsync) this.synced = this.written;
  }

  private fail(what: string, err: unknown): StoreError {
    this.failed = new StoreError(
      'E_STORE_FAILED',
      `${what} failed half way (${errText(err)}); the last change may or may not be stored. ` +
        'Close this store and open it again: open reads what is on disk.',
      { cause: err, path: this.dir },
    );
    return this.failed;
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('E_CLOSED', `task store ${this.dir} is closed`, { path: this.dir });
  }

  private ensureWritable(): void {
    this.ensureOpen();
    if (this.failed) throw new StoreError('E_STORE_FAILED', this.failed.message, { cause: this.failed.cause, path: this.dir });
  }

  private publishCompact(phase: CompactEvent['phase']): void {
    if (compactChannel.hasSubscribers) compactChannel.publish({ dir: this.dir, phase, lastSeq: this.state.lastSeq } satisfies CompactEvent);
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}
