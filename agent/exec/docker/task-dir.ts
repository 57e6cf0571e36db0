// One directory per task on the host (<root>/<taskid>, mode 0700) holding what is
// bind-mounted read-only into the task's container: resolv.conf, and for a task with secrets
// or configs, those too — then the directory is a tmpfs, so they live in memory only.
// Removed with the task.
//
// Mounting shells out to mount(8)/umount(8) with a fixed argument list (no shell, paths built
// from a validated task id): two calls per task, no native build dependency, and the same
// mount namespace dockerd uses — agentd must not run in a private mount namespace.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../../../base/index.js';

export const DEFAULT_TASKS_ROOT = '/run/berth/tasks';
/** A marker in every task directory naming the node that made it, so that agents sharing a
 *  host (tests) never clean up each other's tasks. */
const OWNER_FILE = '.owner';
const MOUNT_CMD = 'mount';
const UMOUNT_CMD = 'umount';
const COMMAND_TIMEOUT_MS = 10_000;
const PAGE = 4096;
/** Headroom on top of the files' own pages: directories, the owner marker, resolv.conf. */
const TMPFS_SLACK_BYTES = 64 * 1024;
const TASK_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** mount/umount failures are temporary (worth retrying); a task id unusable as a directory is not. */
class TaskDirError extends BerthError {
  declare readonly code: 'E_TASK_DIR';
  constructor(message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super('E_TASK_DIR', message, options);
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(new TaskDirError(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err, temporary: true }));
      else resolve();
    });
  });
}

/** Mount points from /proc/self/mountinfo (octal escapes decoded). */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

/** tmpfs size for files of these byte lengths: every file takes whole pages. */
export function tmpfsSizeFor(fileBytes: readonly number[]): number {
  const pages = fileBytes.reduce((sum, n) => sum + Math.max(1, Math.ceil(n / PAGE)), 0);
  return pages * PAGE + TMPFS_SLACK_BYTES;
}

export interface TaskDirFile {
  /** Path relative to the task directory (may contain one subdirectory). */
  path: string;
  data: Buffer | string;
  uid: number;
  gid: number;
  mode: number;
}

export class TaskDirs {
  constructor(readonly root: string = DEFAULT_TASKS_ROOT) {}

  path(taskId: string): string {
    if (!TASK_ID_RE.test(taskId)) throw new TaskDirError(`task id ${JSON.stringify(taskId)} is not usable as a directory name`);
    return join(this.root, taskId);
  }

  async isMounted(taskId: string): Promise<boolean> {
    return (await mountPoints()).has(this.path(taskId));
  }

  /**
   * Makes the task directory; with `tmpfsBytes` it is a tmpfs of that size (mounted unless it
   * is already). Tasks without secrets or configs get a plain directory: no mount to make.
   */
  async ensure(taskId: string, tmpfsBytes: number | undefined, ownerNodeId: string): Promise<string> {
    const dir = this.path(taskId);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (tmpfsBytes !== undefined && !(await mountPoints()).has(dir)) {
      const size = Math.ceil(tmpfsBytes / PAGE) * PAGE;
      await run(MOUNT_CMD, ['-t', 'tmpfs', '-o', `mode=0700,nosuid,nodev,size=${size}`, 'tmpfs', dir]);
    }
    await writeFile(join(dir, OWNER_FILE), ownerNodeId, { mode: 0o600 });
    return dir;
  }

  /**
   * Writes files in place. An existing file keeps its inode (truncate + write), so a container
   * that already bind-mounts it sees the same file.
   */
  async write(taskId: string, files: readonly TaskDirFile[]): Promise<void> {
    const dir = this.path(taskId);
    for (const f of files) {
      const path = join(dir, f.path);
      await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
      const fh = await open(path, 'w', 0o600);
      try {
        await fh.writeFile(f.data);
      } finally {
        await fh.close();
      }
      await chown(path, f.uid, f.gid);
      await chmod(path, f.mode);
    }
  }

  /** Unmounts (lazily when still busy) and removes the task directory. Idempotent. */
  async remove(taskId: string): Promise<void> {
    const dir = this.path(taskId);
    if ((await mountPoints()).has(dir)) {
      await run(UMOUNT_CMD, [dir]).catch(() => run(UMOUNT_CMD, ['-l', dir]));
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Task ids with a directory here, with the node that made each (undefined if unknown). */
  async list(): Promise<Array<{ taskId: string; owner: string | undefined }>> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: Array<{ taskId: string; owner: string | undefined }> = [];
    for (const n of names) {
      if (!TASK_ID_RE.test(n)) continue;
      const owner = await readFile(join(this.root, n, OWNER_FILE), 'utf8').catch(() => undefined);
      out.push({ taskId: n, owner });
    }
    return out;
  }

  /** Removes every task directory made by `nodeId` (for a node that is gone for good, or a test's teardown). */
  async removeOwnedBy(nodeId: string): Promise<string[]> {
    const removed: string[] = [];
    for (const d of await this.list()) {
      if (d.owner !== nodeId) continue;
      await this.remove(d.taskId);
      removed.push(d.taskId);
    }
    return removed;
  }
}
