// Structured logs: JSON lines on stderr. Components take a LogFn (base/log.ts) so they never
// depend on the logging library; this adapts pino to it. Secrets are never passed to it.
//
// Under systemd, stderr is a stream into the journal (JOURNAL_STREAM names it), which keeps
// every line at one priority unless the line starts with a syslog `<N>` prefix (the unit's
// SyslogLevelPrefix=, on by default). There each JSON line gets its level's prefix, so
// `journalctl -u agentd -p warning` filters; the line itself stays the same JSON. Anywhere
// else (a terminal, a file, a pipe) the lines are plain JSON.
import { fstatSync } from 'node:fs';
import { pino, destination, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import type { LogFn, LogLevel } from '../base/index.js';

export type { LogFn };

const STDERR_FD = 2;
/** syslog priorities (sd-daemon.h) for pino's numeric levels: trace and debug 7, info 6, warn 4, error 3, fatal 2. */
const SYSLOG_PRIORITY: ReadonlyMap<number, number> = new Map([
  [10, 7],
  [20, 7],
  [30, 6],
  [40, 4],
  [50, 3],
  [60, 2],
]);
const SYSLOG_INFO = 6;

/** Whether `fd` is the stream systemd connected to the journal (JOURNAL_STREAM=<device>:<inode>). */
export function isJournalStream(env: Readonly<Record<string, string | undefined>>, fd: number): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** A pino JSON line with the syslog priority prefix of its level (pino writes `level` first). */
export function withSyslogPrefix(line: string): string {
  const level = /^\{"level":(\d+)/.exec(line);
  return `<${(level && SYSLOG_PRIORITY.get(Number(level[1]))) ?? SYSLOG_INFO}>${line}`;
}

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, env: Readonly<Record<string, string | undefined>> = process.env): { logger: Logger; log: LogFn } {
  const stderr = destination({ fd: STDERR_FD, sync: true });
  const stream: DestinationStream = isJournalStream(env, STDERR_FD) ? { write: (line: string) => stderr.write(withSyslogPrefix(line)) } : stderr;
  const logger = pino({ level, base: { ...bindings }, timestamp: stdTimeFunctions.isoTime }, stream);
  const log: LogFn = (lvl, msg, fields) => logger[lvl](fields ?? {}, msg);
  return { logger, log };
}
