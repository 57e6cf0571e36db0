// Tasks are stored as JSON; bytes fields (protobuf Any values, for instance) become
// {"$b64": "..."} so they survive the round trip as Buffers. A status is the store's
// StoredStatus; toWireStatus and fromWireStatus are the only conversions to and from the wire.
import type { Task, TaskStatus, TaskStatusIn } from '../proto/api.js';
import type { StoredStatus } from '../store/index.js';

export function encodeTask(task: Task): unknown {
  return JSON.parse(JSON.stringify(task, (_k, v: unknown) => (isBufferJson(v) ? { $b64: Buffer.from(v.data).toString('base64') } : v)));
}

export function decodeTask(stored: unknown): Task {
  return JSON.parse(JSON.stringify(stored), (_k, v: unknown) =>
    v !== null && typeof v === 'object' && typeof (v as { $b64?: unknown }).$b64 === 'string' ? Buffer.from((v as { $b64: string }).$b64, 'base64') : v,
  ) as Task;
}

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

export function toWireStatus(s: StoredStatus): TaskStatusIn {
  const ms = Date.parse(s.timestamp);
  return {
    timestamp: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
    state: s.state,
    message: s.message,
    err: s.err ?? '',
    ...(s.container ? { container: { container_id: s.container.containerId, pid: s.container.pid, exit_code: s.container.exitCode } } : {}),
  };
}

export function fromWireStatus(s: TaskStatus | null | undefined): StoredStatus | undefined {
  if (!s) return undefined;
  const seconds = Number(s.timestamp?.seconds ?? 0);
  return {
    state: s.state,
    message: s.message,
    ...(s.err ? { err: s.err } : {}),
    timestamp: new Date(seconds * 1000 + Math.floor((s.timestamp?.nanos ?? 0) / 1e6)).toISOString(),
  };
}
