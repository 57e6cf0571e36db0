// Structured logs (JSON lines on stderr; journald keeps them as they are). Components take a
// LogFn (base/log.ts) so they never depend on the logging library; this adapts pino to it.
// Secrets are never passed to it.
import { pino, destination, stdTimeFunctions, type Logger } from 'pino';
import type { LogFn, LogLevel } from '../base/index.js';

export type { LogFn };

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): { logger: Logger; log: LogFn } {
  const logger = pino({ level, base: { ...bindings }, timestamp: stdTimeFunctions.isoTime }, destination({ fd: 2, sync: true }));
  const log: LogFn = (lvl, msg, fields) => logger[lvl](fields ?? {}, msg);
  return { logger, log };
}
