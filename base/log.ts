// The one logger shape. Components take a LogFn so they never depend on the logging library
// (agent/log.ts adapts pino to it); secrets are never passed to it.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
