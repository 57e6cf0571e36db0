// Original file: agent/proto/types.proto

export const TaskState = {
  NEW: 0,
  PENDING: 64,
  ASSIGNED: 192,
  ACCEPTED: 256,
  PREPARING: 320,
  READY: 384,
  STARTING: 448,
  RUNNING: 512,
  COMPLETE: 576,
  SHUTDOWN: 640,
  FAILED: 704,
  REJECTED: 768,
  REMOVE: 800,
  ORPHANED: 832,
} as const;

export type TaskState =
  | 'NEW'
  | 0
  | 'PENDING'
  | 64
  | 'ASSIGNED'
  | 192
  | 'ACCEPTED'
  | 256
  | 'PREPARING'
  | 320
  | 'READY'
  | 384
  | 'STARTING'
  | 448
  | 'RUNNING'
  | 512
  | 'COMPLETE'
  | 576
  | 'SHUTDOWN'
  | 640
  | 'FAILED'
  | 704
  | 'REJECTED'
  | 768
  | 'REMOVE'
  | 800
  | 'ORPHANED'
  | 832

export type TaskState__Output = typeof TaskState[keyof typeof TaskState]
