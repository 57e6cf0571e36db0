// Secrets and configs a task references, as files: where each lands in the container, with
// which owner and mode, and where its bytes live in the task's tmpfs on the host. Pure; the
// values themselves are looked up and written by the controller (and never logged).
import type { ContainerSpec } from '../../proto/api.js';
import { TaskError } from '../executor.js';

/** Relative secret targets land here, as on Docker's workers. */
const SECRETS_DIR = '/run/secrets';
/** Relative config targets are taken from the root, as on Docker's workers. */
const CONFIGS_DIR = '/';
/** SwarmKit's limits (api/validation): the manager enforces them too. */
export const MAX_SECRET_BYTES = 500 * 1024;
export const MAX_CONFIG_BYTES = 1000 * 1024;
/** Kernel filesystems a file may not be mounted into. */
const FORBIDDEN_ROOTS = ['/proc', '/sys'];
const MAX_ID = 2 ** 32 - 2;

export type TaskFileKind = 'secret' | 'config';

export interface TaskFile {
  kind: TaskFileKind;
  /** Secret or config id (what the dependency store is keyed by). */
  id: string;
  /** Its name, for messages. */
  name: string;
  /** Absolute, normalised path inside the container. */
  target: string;
  uid: number;
  gid: number;
  mode: number;
  /** Path of the file relative to the task directory on the host. */
  hostPath: string;
}

export class TaskFileError extends TaskError {
  constructor(message: string) {
    super('E_TASK_FILE', message);
  }
}

/** C0 controls and DEL: never part of a file name worth having. */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Normalises a target: absolute stays, relative goes under `root`; '.'/empty segments vanish; '..' is refused. */
export function resolveTarget(raw: string, root: string): string | { problem: string } {
  if (raw === '') return { problem: 'is empty' };
  if (hasControlCharacter(raw)) return { problem: 'contains control characters' };
  const segments = raw.split('/');
  if (segments.includes('..')) return { problem: "contains '..'" };
  const parts = (raw.startsWith('/') ? segments : [...root.split('/'), ...segments]).filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) return { problem: 'names the root directory' };
  const target = `/${parts.join('/')}`;
  for (const r of FORBIDDEN_ROOTS) if (target === r || target.startsWith(`${r}/`)) return { problem: `is inside ${r}` };
  return target;
}

function parseId(raw: string, field: string): number {
  if (raw === '') return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_ID) throw new TaskFileError(`${field}: ${JSON.stringify(raw)} is not a numeric id`);
  return Number(raw);
}

/** Validates every secret and config reference; throws naming the first bad one. */
export function taskFiles(spec: Pick<ContainerSpec, 'secrets' | 'configs'>): TaskFile[] {
  const files: TaskFile[] = [];
  const byTarget = new Map<string, string>();
  const add = (kind: TaskFileKind, index: number, id: string, name: string, file: { name: string; uid: string; gid: string; mode: number }) => {
    const what = `${kind} ${JSON.stringify(name || id)}`;
    const field = `spec.container.${kind}s[${index}]`;
    if (!id) throw new TaskFileError(`${field}: reference without an id`);
    const target = resolveTarget(file.name, kind === 'secret' ? SECRETS_DIR : CONFIGS_DIR);
    if (typeof target !== 'string') throw new TaskFileError(`${what}: target ${JSON.stringify(file.name)} ${target.problem}`);
    if ((file.mode & ~0o777) !== 0) throw new TaskFileError(`${what}: mode ${file.mode.toString(8)} has bits other than permissions`);
    const prev = byTarget.get(target);
    if (prev) throw new TaskFileError(`${what}: target ${target} is also the target of ${prev}`);
    byTarget.set(target, what);
    files.push({
      kind,
      id,
      name,
      target,
      uid: parseId(file.uid, `${what} uid`),
      gid: parseId(file.gid, `${what} gid`),
      mode: file.mode,
      hostPath: `${kind}s/${index}-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    });
  };
  spec.secrets.forEach((s, i) => {
    if (!s.file) throw new TaskFileError(`secret ${JSON.stringify(s.secret_name || s.secret_id)}: only file targets are supported`);
    add('secret', i, s.secret_id, s.secret_name, s.file);
  });
  spec.configs.forEach((c, i) => {
    if (c.runtime || !c.file) throw new TaskFileError(`config ${JSON.stringify(c.config_name || c.config_id)}: runtime targets (Windows credential specs) are not supported on Linux nodes`);
    add('config', i, c.config_id, c.config_name, c.file);
  });
  return files;
}

export function maxBytes(kind: TaskFileKind): number {
  return kind === 'secret' ? MAX_SECRET_BYTES : MAX_CONFIG_BYTES;
}
