// The store's data model and how records change it. No I/O here: the log and snapshot code
// in task-store.ts feed records through these functions both when writing (to validate before
// anything reaches disk) and when replaying after a restart, so both paths share one rule set.
import { FRAME_HEADER_BYTES, decodeFrameAt, encodeFrame } from './framing.js';
import { StoreError } from './errors.js';
import type { TaskStateNumber } from '../proto/enums.js';

/**
 * A task's status as the worker records it, the store persists it and the reporter sends it
 * (agent/worker/task-codec.ts's toWireStatus turns it into the wire TaskStatus). `state` is
 * SwarmKit's TaskState number. The store checks only what its own rules need (statusProblem).
 */
export interface StoredStatus {
  state: TaskStateNumber;
  message: string;
  err?: string;
  /** RFC 3339 time of the change. */
  timestamp: string;
  /** The task's container, once it has one. */
  container?: { containerId: string; pid: number; exitCode: number };
}

export interface TaskRecord<T = unknown> {
  readonly id: string;
  /** The caller's value (the decoded assignment, without secrets or configs), as JSON round-trips it. */
  readonly task: T;
  readonly status: Readonly<StoredStatus> | undefined;
  /** Bumped on every accepted status change; 0 until the first one. */
  readonly statusSeq: number;
  /** The highest statusSeq the manager acknowledged. */
  readonly reportedSeq: number;
  /** Log sequence number of the record that wrote `status`: the global write order. */
  readonly statusLogSeq: number;
}

export type LogRecord =
  | { readonly seq: number; readonly op: 'task'; readonly id: string; readonly task: unknown }
  | { readonly seq: number; readonly op: 'status'; readonly id: string; readonly statusSeq: number; readonly status: StoredStatus }
  | { readonly seq: number; readonly op: 'reported'; readonly id: string; readonly reportedSeq: number }
  | { readonly seq: number; readonly op: 'remove'; readonly id: string };

export interface StoreState {
  /** Sequence number of the last record applied (from the snapshot or the log). */
  lastSeq: number;
  tasks: Map<string, TaskRecord>;
  /** Tasks whose statusSeq > reportedSeq, in the order their status was written. */
  pending: Map<string, TaskRecord>;
}

export function emptyState(): StoreState {
  return { lastSeq: 0, tasks: new Map(), pending: new Map() };
}

const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Checks a caller's status; returns a reason, or undefined when it is acceptable. */
export function statusProblem(status: unknown): string | undefined {
  if (typeof status !== 'object' || status === null || Array.isArray(status)) return 'status must be an object';
  const s = status as Record<string, unknown>;
  if (!isSeq(s.state)) return `status.state must be a non-negative integer (a TaskState), got ${String(s.state)}`;
  if (typeof s.timestamp !== 'string') return 'status.timestamp must be a string';
  if (s.message !== undefined && typeof s.message !== 'string') return 'status.message must be a string';
  if (s.err !== undefined && typeof s.err !== 'string') return 'status.err must be a string';
  return undefined;
}

/** Checks the shape of a decoded log record; returns it typed, or a reason. */
export function parseRecord(value: unknown): LogRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record is not an object';
  const r = value as Record<string, unknown>;
  if (!isSeq(r.seq) || r.seq === 0) return 'record has no valid seq';
  if (typeof r.id !== 'string' || r.id === '') return 'record has no id';
  switch (r.op) {
    case 'task':
      return 'task' in r ? (r as LogRecord) : 'task record has no task';
    case 'status': {
      if (!isSeq(r.statusSeq) || r.statusSeq === 0) return 'status record has no valid statusSeq';
      const why = statusProblem(r.status);
      return why ?? (r as LogRecord);
    }
    case 'reported':
      return isSeq(r.reportedSeq) ? (r as LogRecord) : 'reported record has no valid reportedSeq';
    case 'remove':
      return r as LogRecord;
    default:
      return `unknown op ${JSON.stringify(r.op)}`;
  }
}

/**
 * One task's next value after `rec`. Returns `prev` itself when the record changes nothing
 * (a replayed status or acknowledgement, removing an absent task), so replay is idempotent.
 * Throws StoreError for moves that must never be written.
 */
export function nextEntry(prev: TaskRecord | undefined, rec: LogRecord): TaskRecord | undefined {
  switch (rec.op) {
    case 'task':
      if (prev) return { ...prev, task: rec.task };
      return { id: rec.id, task: rec.task, status: undefined, statusSeq: 0, reportedSeq: 0, statusLogSeq: 0 };
    case 'status': {
      if (!prev) {
        throw new StoreError('E_NO_TASK', `task ${rec.id}: no such task in the store; put the task before its status`);
      }
      if (rec.statusSeq <= prev.statusSeq) return prev;
      if (rec.statusSeq !== prev.statusSeq + 1) {
        throw new StoreError('E_LOG_INVALID', `task ${rec.id}: status seq ${rec.statusSeq} follows ${prev.statusSeq}; a status record is missing`);
      }
      if (prev.status && rec.status.state < prev.status.state) {
        throw new StoreError(
          'E_STATE_BACKWARDS',
          `task ${rec.id}: state ${rec.status.state} is lower than the stored ${prev.status.state}; task states only move forward, so the caller has a bug`,
        );
      }
      return { ...prev, status: rec.status, statusSeq: rec.statusSeq, statusLogSeq: rec.seq };
    }
    case 'reported':
      if (!prev || rec.reportedSeq <= prev.reportedSeq) return prev;
      if (rec.reportedSeq > prev.statusSeq) {
        throw new StoreError(
          'E_INVALID_ARGUMENT',
          `task ${rec.id}: cannot mark status seq ${rec.reportedSeq} reported, the latest is ${prev.statusSeq}`,
        );
      }
      return { ...prev, reportedSeq: rec.reportedSeq };
    case 'remove':
      return undefined;
  }
}

/**
 * Applies one record to the whole state (in place). Records at or below lastSeq are already
 * contained and are skipped; returns whether the record was applied.
 */
export function applyRecord(state: StoreState, rec: LogRecord): boolean {
  if (rec.seq <= state.lastSeq) return false;
  if (rec.seq !== state.lastSeq + 1) {
    throw new StoreError('E_LOG_INVALID', `record seq ${rec.seq} follows ${state.lastSeq}; records are missing`);
  }
  const prev = state.tasks.get(rec.id);
  const next = nextEntry(prev, rec);
  state.lastSeq = rec.seq;
  if (next === prev) return true;
  if (next === undefined) {
    state.tasks.delete(rec.id);
    state.pending.delete(rec.id);
    return true;
  }
  deepFreeze(next);
  state.tasks.set(rec.id, next);
  if (next.statusSeq > next.reportedSeq) {
    // A new status goes to the back of the queue; an older one keeps its place.
    if (prev && prev.statusLogSeq !== next.statusLogSeq) state.pending.delete(rec.id);
    state.pending.set(rec.id, next);
  } else {
    state.pending.delete(rec.id);
  }
  return true;
}

const SNAPSHOT_FORMAT = 'berth-task-store';
const SNAPSHOT_VERSION = 1;

interface SnapshotBody {
  format: string;
  version: number;
  lastSeq: number;
  tasks: TaskRecord[];
}

/** The whole state as one frame. */
export function encodeSnapshot(state: StoreState): Buffer {
  const body: SnapshotBody = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, lastSeq: state.lastSeq, tasks: [...state.tasks.values()] };
  return encodeFrame(Buffer.from(JSON.stringify(body), 'utf8'));
}

/** Decodes a snapshot file's bytes; throws E_SNAPSHOT_CORRUPT naming `path`. */
export function decodeSnapshot(buf: Uint8Array, path: string): StoreState {
  const corrupt = (why: string) =>
    new StoreError(
      'E_SNAPSHOT_CORRUPT',
      `task store snapshot ${path} is corrupt (${why}). It is only ever replaced atomically, so something outside berth changed it. ` +
        'Move the store directory aside and restart: the node starts empty and the manager sends its assignments again.',
      { path },
    );
  if (buf.length < FRAME_HEADER_BYTES) throw corrupt(`${buf.length} bytes is shorter than a frame header`);
  const frame = decodeFrameAt(buf, 0);
  if (typeof frame === 'string') throw corrupt(frame);
  if (frame.end !== buf.length) throw corrupt(`${buf.length - frame.end} bytes after the snapshot frame`);
  const body = frame.value as Partial<SnapshotBody> | null;
  if (typeof body !== 'object' || body === null || body.format !== SNAPSHOT_FORMAT) throw corrupt('not a task store snapshot');
  if (body.version !== SNAPSHOT_VERSION) throw corrupt(`version ${String(body.version)}, this berth reads ${SNAPSHOT_VERSION}`);
  if (!isSeq(body.lastSeq) || !Array.isArray(body.tasks)) throw corrupt('missing lastSeq or tasks');
  const state = emptyState();
  state.lastSeq = body.lastSeq;
  for (const t of body.tasks as unknown[]) {
    const r = t as Partial<TaskRecord> | null;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.id !== 'string' ||
      !('task' in r) ||
      !isSeq(r.statusSeq) ||
      !isSeq(r.reportedSeq) ||
      !isSeq(r.statusLogSeq) ||
      r.reportedSeq > r.statusSeq ||
      (r.status === undefined ? r.statusSeq !== 0 : statusProblem(r.status) !== undefined)
    ) {
      throw corrupt(`bad task entry ${JSON.stringify(t)?.slice(0, 200)}`);
    }
    if (state.tasks.has(r.id)) throw corrupt(`task ${r.id} appears twice`);
    const entry: TaskRecord = {
      id: r.id,
      task: r.task,
      status: r.status,
      statusSeq: r.statusSeq,
      reportedSeq: r.reportedSeq,
      statusLogSeq: r.statusLogSeq,
    };
    state.tasks.set(r.id, deepFreeze(entry));
  }
  const pending = [...state.tasks.values()].filter((r) => r.statusSeq > r.reportedSeq);
  pending.sort((a, b) => a.statusLogSeq - b.statusLogSeq);
  for (const r of pending) state.pending.set(r.id, r);
  return state;
}

/** Freezes a JSON value all the way down, so what callers read cannot drift from what is on disk. */
export function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
