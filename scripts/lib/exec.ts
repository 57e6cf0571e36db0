// The local cluster kit (scripts/lib/): what the quickstart and the test suites use to build a
// cluster on this machine. It never imports test/ (npm run lint checks that).
//
// Small process helpers shared by the kit and the test harnesses. They may shell out to ip, docker,
// qemu and friends (agentd itself never does); every failure names the command and its stderr.
import { execFile, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export class HarnessError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HarnessError';
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a command to completion; rejects with HarnessError(E_COMMAND) on non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args as string[],
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
          const why = e.killed ? `timed out after ${opts.timeoutMs ?? 60_000} ms` : `exit ${String(e.code)}`;
          reject(
            new HarnessError(
              'E_COMMAND',
              `${cmd} ${args.join(' ')}: ${why}\n${String(stderr).trim() || String(stdout).trim()}`,
              { cause: err },
            ),
          );
          return;
        }
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) {
      // A command that exits without reading all its input (a failed nft) closes the pipe:
      // its exit status tells what went wrong, not the EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
  });
}

/** Like run() but never rejects; for cleanup paths where "already gone" is fine. */
export async function runQuiet(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<boolean> {
  try {
    await run(cmd, args, opts);
    return true;
  } catch {
    return false;
  }
}

/** Spawns a long-running process detached from our stdio; the caller owns its pid. */
export function spawnDaemon(cmd: string, args: readonly string[], opts: SpawnOptions = {}) {
  return spawn(cmd, args as string[], { detached: true, stdio: 'ignore', ...opts });
}

/** A short unique name: prefix + 6 hex chars. Kernel interface names allow 15 chars. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new HarnessError('E_NOT_ROOT', `${what} needs root (network namespaces, dockerd, qemu). Run the suite as root.`);
  }
}

/** Finds an executable on PATH (or an absolute path); throws naming the apt package to install. */
export function requireCommand(name: string, aptPackage: string): string {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new HarnessError(
    'E_MISSING_COMMAND',
    `${name} not found: install the Debian package "${aptPackage}" (npm run setup does it).`,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown from a waitFor callback to stop waiting at once (the condition can no longer hold). */
export class StopWaiting extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
    this.name = 'StopWaiting';
  }
}

/** Polls fn until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err instanceof StopWaiting) throw err.reason;
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new HarnessError('E_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/** LIFO cleanup stack: every step runs even when an earlier one fails. */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown> | unknown }> = [];
  add(what: string, fn: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, fn });
  }
  async run(): Promise<void> {
    const errors: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (err) {
        errors.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new HarnessError('E_CLEANUP', `cleanup failed:\n${errors.join('\n')}`);
  }
}
