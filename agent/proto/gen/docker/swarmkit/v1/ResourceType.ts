// Original file: agent/proto/types.proto

export const ResourceType = {
  TASK: 0,
  SECRET: 1,
  CONFIG: 2,
  VOLUME: 3,
} as const;

export type ResourceType =
  | 'TASK'
  | 0
  | 'SECRET'
  | 1
  | 'CONFIG'
  | 2
  | 'VOLUME'
  | 3

export type ResourceType__Output = typeof ResourceType[keyof typeof ResourceType]
