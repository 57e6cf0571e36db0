// The built layout (dist/, written by scripts/build.sh) that the suites and the quickstart run
// agentd and agentctl from: the same files the package installs under /usr/lib/berth, so what
// is tested is what ships. A source newer than the build rebuilds it first (scripts/build.sh
// takes a lock: several test processes may ask at once).
import { join } from 'node:path';
import { run } from './exec.js';
import { PROJECT_ROOT } from './images.js';

export const DIST_DIR = join(PROJECT_ROOT, 'dist');
const BUILD_SCRIPT = join(PROJECT_ROOT, 'scripts', 'build.sh');
const BUILD_TIMEOUT_MS = 300_000;

let built: Promise<void> | undefined;

/** Brings dist/ up to date with the sources, once per process. */
export function ensureBuilt(): Promise<void> {
  built ??= run('bash', [BUILD_SCRIPT, '--if-stale'], { timeoutMs: BUILD_TIMEOUT_MS, cwd: PROJECT_ROOT }).then(() => undefined);
  return built;
}

/** argv of the built agentd on the Node running this process (the pinned one in the suites). */
export async function builtAgentd(): Promise<[string, ...string[]]> {
  await ensureBuilt();
  return [process.execPath, join(DIST_DIR, 'agent', 'cli', 'agentd.js')];
}

/** argv of the built agentctl. */
export async function builtAgentctl(): Promise<[string, ...string[]]> {
  await ensureBuilt();
  return [process.execPath, join(DIST_DIR, 'agent', 'cli', 'agentctl.js')];
}
