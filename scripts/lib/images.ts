// Local images for tests and the quickstart, imported from tarballs built by scripts/build-images.sh.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, run } from './exec.js';

export const TEST_IMAGE = 'local/busybox:test';
export const PAUSE_IMAGE = 'berth/pause:local';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMAGES_DIR = join(PROJECT_ROOT, '.cache', 'images');
const DOCKER_CLI = '/usr/bin/docker';

let built: Promise<void> | undefined;

/** Builds the image tarballs once per process (the script itself is idempotent). */
function buildImageTarballs(): Promise<void> {
  built ??= run('bash', [join(PROJECT_ROOT, 'scripts', 'build-images.sh')], { timeoutMs: 120_000 }).then(() => undefined);
  return built;
}

/** Imports the busybox test image and (unless `pause: false`: agentd then imports its own
 *  from its layout) the pause image into the engine at dockerHost. */
export async function importImages(dockerHost: string, opts: { pause?: boolean } = {}): Promise<void> {
  await buildImageTarballs();
  const pause = opts.pause ?? true;
  for (const f of pause ? ['busybox.tar', 'pause.tar'] : ['busybox.tar']) {
    if (!existsSync(join(IMAGES_DIR, f))) {
      throw new HarnessError('E_NO_IMAGE', `${join(IMAGES_DIR, f)} missing: run npm run setup`);
    }
  }
  await run(DOCKER_CLI, ['-H', dockerHost, 'import', '-c', 'ENV PATH=/bin:/sbin', '-c', 'ENTRYPOINT ["/sbin/tini", "--"]', '-c', 'CMD ["/bin/sh"]', join(IMAGES_DIR, 'busybox.tar'), TEST_IMAGE]);
  if (pause) await run(DOCKER_CLI, ['-H', dockerHost, 'import', '-c', 'ENTRYPOINT ["/pause"]', join(IMAGES_DIR, 'pause.tar'), PAUSE_IMAGE]);
}
