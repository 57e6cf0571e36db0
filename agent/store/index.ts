// Public surface of the worker's persistent task store.
export {
  TaskStore,
  COMPACT_CHANNEL,
  type CompactEvent,
  type TaskStoreOptions,
  type TaskStoreStats,
  type UnreportedStatus,
} from './task-store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export type { StoredStatus, TaskRecord } from './state.js';
export { RetryingTaskStore, type TaskStoreHandle } from './retrying-task-store.js';
export { StateWrites, isIoError, type StateDirHealth } from './state-writes.js';
