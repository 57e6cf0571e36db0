// Structured logs (JSON lines on stderr; journald keeps them as they are). Components take a
// LogFn so they never depend on the logging library. Secrets are never passed to it.
import { pino, destination, stdTimeFunctions, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type LogFn = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): { logger: Logger; log: LogFn } {
  const logger = pino({ level, base: { ...bindings }, timestamp: stdTimeFunctions.isoTime }, destination({ fd: 2, sync: true }));
  const log: LogFn = (lvl, msg, fields) => logger[lvl](fields ?? {}, msg);
  return { logger, log };
}
