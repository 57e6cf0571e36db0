// Public surface of the worker's persistent task store.
export {
  TaskStore,
  COMPACT_CHANNEL,
  RECOVER_CHANNEL,
  DEFAULT_COMPACT_BYTES,
  DEFAULT_COMPACT_EVERY,
  type CompactEvent,
  type RecoverEvent,
  type TaskStoreOptions,
  type TaskStoreStats,
  type UnreportedStatus,
} from './task-store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export type { StoredStatus, TaskRecord } from './state.js';
