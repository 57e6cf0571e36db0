// Where `npm run build:native` (scripts/build-native.sh) leaves its output, for tests that need
// the addon or the static pause program: a missing build fails the suite with the command to run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

const NATIVE_BUILD_DIR = join(PROJECT_ROOT, 'native', 'build');
const ADDON_PATH = join(NATIVE_BUILD_DIR, 'Release', 'berth_native.node');
const PAUSE_PATH = join(NATIVE_BUILD_DIR, 'pause');
const BUILD_HINT = 'run `npm run build:native` (scripts/build-native.sh)';

/** True when the addon has been built; does not load it. */
export function isNativeAddonBuilt(): boolean {
  return existsSync(ADDON_PATH);
}

/** Absolute path of the static pause program; throws when it is not built. */
export function pauseBinaryPath(): string {
  if (!existsSync(PAUSE_PATH)) throw new Error(`pause program not built (looked for ${PAUSE_PATH}): ${BUILD_HINT}`);
  return PAUSE_PATH;
}
