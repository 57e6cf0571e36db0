// The built berth package as a directory tree, for guests that overlay it on the host's root:
// `npm run package` (gzip, the fast compression) then `dpkg-deb -x` once per package build.
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCommand, run } from '../../scripts/lib/exec.js';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'vm');
const PACKAGE_TIMEOUT_MS = 600_000;

export interface ExtractedPackage {
  debPath: string;
  /** The package's files as installed (usr/bin/agentd, usr/lib/systemd/system/agentd.service, ...). */
  root: string;
}

/** Builds the .deb (scripts/package.sh) and extracts it once; later calls reuse the tree. */
export async function extractedBerthPackage(): Promise<ExtractedPackage> {
  requireCommand('dpkg-deb', 'dpkg');
  const out = await run('bash', [join(PROJECT_ROOT, 'scripts', 'package.sh')], {
    timeoutMs: PACKAGE_TIMEOUT_MS,
    env: { ...process.env, BERTH_DEB_COMPRESSION: 'gzip' },
  });
  const debPath = out.stdout.trim().split('\n').at(-1)!;
  const s = await stat(debPath);
  const root = join(CACHE_DIR, `pkgroot-${createHash('sha256').update(`${debPath}:${s.size}:${s.mtimeMs}`).digest('hex').slice(0, 16)}`);
  if (existsSync(root)) return { debPath, root };
  await mkdir(CACHE_DIR, { recursive: true });
  const tmp = `${root}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await run('dpkg-deb', ['-x', debPath, tmp], { timeoutMs: 120_000 });
  // Debian 12 has a merged /usr (/lib -> usr/lib): a real lib/ in a layer above the host's root
  // would hide /lib/systemd/systemd and the dynamic loader. dpkg follows the symlink; so do we.
  if (existsSync(join(tmp, 'lib'))) {
    await cp(join(tmp, 'lib'), join(tmp, 'usr', 'lib'), { recursive: true });
    await rm(join(tmp, 'lib'), { recursive: true });
  }
  await rm(root, { recursive: true, force: true });
  await rename(tmp, root);
  // Older extractions (other package builds) are ~150 MB each.
  for (const name of await readdir(CACHE_DIR)) {
    if (name.startsWith('pkgroot-') && !name.includes('.tmp-') && join(CACHE_DIR, name) !== root) await rm(join(CACHE_DIR, name), { recursive: true, force: true });
  }
  return { debPath, root };
}
