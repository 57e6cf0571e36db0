// One agentd per state dir. Two would drive one task store and one engine at once, each
// undoing the other's work, so agentd takes this lock before anything else touches the dir.
//
// Node has no flock(2), so the lock is a file naming its holder: pid, boot id and the
// process's start time (/proc/PID/stat field 22). A lock whose holder is gone — killed with
// -9, or a pid since reused by another process, or written before a reboot — is stale and is
// replaced, so a crash never blocks the restart. The file is made whole beside the lock and
// hard-linked into place (link fails with EEXIST), so a reader never sees it half written;
// replacing a stale one happens under a short-lived second file, so two agentds starting at
// once after a crash cannot both replace it.
import { linkSync, lstatSync, mkdirSync, openSync, closeSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, StateLockedError } from './errors.js';

export const STATE_LOCK_FILE = 'agentd.lock';
/** Breaking a stale lock takes microseconds; a break file older than this was left by a crash. */
const BREAK_STALE_MS = 10_000;
const ACQUIRE_ATTEMPTS = 50;
const ACQUIRE_RETRY_MS = 10;

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id when it was taken; absent off Linux. */
  bootId?: string;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat field 22); absent off Linux. */
  startTime?: string;
}

export interface StateLock {
  readonly path: string;
  /** The holder of a stale lock this one replaced (its agentd died without releasing). */
  readonly replacedStale: LockHolder | undefined;
  /** Removes the lock file if it is still this process's. Safe to call more than once. */
  release(): void;
}

/**
 * Takes the state dir's lock (creating the dir, 0700, if missing), or throws StateLockedError
 * naming the live agentd that holds it.
 */
export function lockStateDir(stateDir: string): StateLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, STATE_LOCK_FILE);
  const mine = `${JSON.stringify(holderOf(process.pid))}\n`;
  let replacedStale: LockHolder | undefined;
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
    if (attempt > 0) sleepSync(ACQUIRE_RETRY_MS);
    if (tryCreate(path, mine)) {
      let released = false;
      return {
        path,
        replacedStale,
        release() {
          if (released) return;
          released = true;
          // Runs on the way out (process 'exit'): a failure here must not change how agentd exits.
          try {
            if (readOrUndefined(path) === mine) unlinkSync(path);
          } catch {
            // left behind, it is stale and the next agentd replaces it
          }
        },
      };
    }
    const text = readOrUndefined(path);
    if (text === undefined) continue; // released meanwhile
    const holder = parseHolder(text);
    if (holder && isAlive(holder)) {
      throw new StateLockedError(
        `state dir ${stateDir} is in use by agentd pid ${holder.pid} (lock ${path}); stop that agentd first, or give this one its own --state-dir and --control-socket`,
        holder.pid,
      );
    }
    if (breakStale(path, text)) replacedStale = holder;
  }
  throw new BerthError('E_STATE_LOCK_CONTENDED', `could not take the lock ${path}: other processes keep taking and dropping it`, { temporary: true });
}

/** Creates the lock file whole, or returns false if one exists. */
function tryCreate(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o644 });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Removes the lock if it still reads `judged` (the stale content); false if another got there first. */
function breakStale(path: string, judged: string): boolean {
  const breakPath = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breakPath, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process is breaking it now, or crashed while doing so long ago.
    const age = Date.now() - (statMtimeMs(breakPath) ?? Date.now());
    if (age > BREAK_STALE_MS) unlinkQuietly(breakPath);
    return false;
  }
  try {
    if (readOrUndefined(path) !== judged) return false;
    unlinkSync(path);
    return true;
  } finally {
    closeSync(fd);
    unlinkQuietly(breakPath);
  }
}

function holderOf(pid: number): LockHolder {
  const bootId = readOrUndefined('/proc/sys/kernel/random/boot_id')?.trim();
  const startTime = processStartTime(pid);
  return { pid, ...(bootId ? { bootId } : {}), ...(startTime ? { startTime } : {}) };
}

/** The holder is this very process still running: same boot, same pid, same start time. */
function isAlive(holder: LockHolder): boolean {
  const now = holderOf(holder.pid);
  if (holder.bootId && now.bootId && holder.bootId !== now.bootId) return false;
  if (holder.startTime && now.bootId) return now.startTime === holder.startTime;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces and parens). */
function processStartTime(pid: number): string | undefined {
  const stat = readOrUndefined(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined;
    return { pid: v.pid, ...(typeof v.bootId === 'string' ? { bootId: v.bootId } : {}), ...(typeof v.startTime === 'string' ? { startTime: v.startTime } : {}) };
  } catch {
    return undefined;
  }
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function statMtimeMs(path: string): number | undefined {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
