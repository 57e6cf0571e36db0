// The built berth package as a directory tree, for guests that overlay it on the host's root:
// `npm run package` (gzip, the fast compression) then `dpkg-deb -x`. The tree is kept under a
// hash of what goes into the package (dist/, packaging/, the unit, the lockfile, the pinned
// Node, package.sh itself), so a run whose inputs did not change reuses it without building
// the package again (30-60 s of `npm ci` and dpkg-deb on 2 cores).
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../../scripts/lib/built.js';
import { requireCommand, run } from '../../scripts/lib/exec.js';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'vm');
const PACKAGE_TIMEOUT_MS = 600_000;
/**
 * Everything scripts/package.sh puts into the .deb or decides it by: dist/ (brought up to date
 * first), the files it copies, the lockfile `npm ci --omit=dev` installs from, the pinned Node
 * it bundles. native/ is there because package.sh rebuilds the addon when its sources changed.
 */
const PACKAGE_INPUTS = ['dist', 'packaging', 'systemd', 'native', 'package.json', 'package-lock.json', 'scripts/package.sh', 'scripts/node.pin', 'README.md'];
/** Under native/, the build output is not an input (dist/ carries the addon it ships). */
const IGNORED_UNDER = ['native/build', 'native/node_modules'];

export interface ExtractedPackage {
  /** The package's files as installed (usr/bin/agentd, usr/lib/systemd/system/agentd.service, ...). */
  root: string;
  /** False when an extraction of the same inputs was reused. */
  built: boolean;
}

async function filesUnder(path: string): Promise<string[]> {
  const rel = relative(PROJECT_ROOT, path);
  if (IGNORED_UNDER.includes(rel)) return [];
  const entries = await readdir(path, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return existsSync(path) ? [path] : [];
  const nested = await Promise.all(
    entries.filter((e) => e.isDirectory() || e.isFile() || e.isSymbolicLink()).map((e) => (e.isDirectory() ? filesUnder(join(path, e.name)) : Promise.resolve([join(path, e.name)]))),
  );
  return nested.flat();
}

/** sha256 over the package's inputs: each file's path and content, in path order. */
export async function packageInputsHash(): Promise<string> {
  const files = (await Promise.all(PACKAGE_INPUTS.map((p) => filesUnder(join(PROJECT_ROOT, p))))).flat().sort();
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(relative(PROJECT_ROOT, f)).update('\0');
    hash.update(createHash('sha256').update(await readFile(f)).digest()).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Builds the .deb (scripts/package.sh) and extracts it, unless a tree of the same inputs exists. */
export async function extractedBerthPackage(): Promise<ExtractedPackage> {
  requireCommand('dpkg-deb', 'dpkg');
  await ensureBuilt();
  const before = join(CACHE_DIR, `pkgroot-${await packageInputsHash()}`);
  if (existsSync(before)) return { root: before, built: false };
  const out = await run('bash', [join(PROJECT_ROOT, 'scripts', 'package.sh')], {
    timeoutMs: PACKAGE_TIMEOUT_MS,
    env: { ...process.env, BERTH_DEB_COMPRESSION: 'gzip' },
  });
  const debPath = out.stdout.trim().split('\n').at(-1)!;
  // package.sh may have rebuilt the addon and dist/: name the tree by what it was built from.
  const root = join(CACHE_DIR, `pkgroot-${await packageInputsHash()}`);
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
  return { root, built: true };
}
