// The sandbox image (the native pause program) ships with agentd as a tarball in its own layout
// (images/pause.tar at the root of dist/ or /usr/lib/berth, written by scripts/build.sh), not
// in a registry: an engine that lacks the image gets it from agentd at start, so the first task
// on an overlay does not fail on a fresh host.
import { createReadStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { BerthError, type LogFn } from '../../../base/index.js';

export const SANDBOX_IMAGE = 'berth/pause:local';
/** From dist/agent/exec/docker/ (or /usr/lib/berth/agent/exec/docker/) up to the layout root. */
export const SANDBOX_IMAGE_TARBALL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'images', 'pause.tar');
const SANDBOX_IMAGE_CHANGES = ['ENTRYPOINT ["/pause"]'];
const HTTP_NOT_FOUND = 404;

export type SandboxImageErrorCode = 'E_SANDBOX_IMAGE_TARBALL' | 'E_SANDBOX_IMAGE_IMPORT' | 'E_SANDBOX_IMAGE_ENGINE';

/** The engine lacks the sandbox image and agentd could not give it one. Only an unreachable
 *  engine is temporary; a missing tarball or a refused import needs a person. */
export class SandboxImageError extends BerthError {
  declare readonly code: SandboxImageErrorCode;
  constructor(code: SandboxImageErrorCode, message: string, options: { cause?: unknown; temporary?: boolean } = {}) {
    super(code, message, options);
  }
}

export interface SandboxImageOptions {
  image?: string;
  tarball?: string;
  log?: LogFn;
}

function splitReference(image: string): { repo: string; tag: string } {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? { repo: image.slice(0, colon), tag: image.slice(colon + 1) } : { repo: image, tag: 'latest' };
}

async function hasImage(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === HTTP_NOT_FOUND) return false;
    throw new SandboxImageError('E_SANDBOX_IMAGE_ENGINE', `cannot ask the Docker Engine for the sandbox image ${image}: ${(err as Error).message}`, { cause: err, temporary: true });
  }
}

/** Imports the sandbox image from the layout's tarball when the engine lacks it. */
export async function ensureSandboxImage(docker: Docker, opts: SandboxImageOptions = {}): Promise<'present' | 'imported'> {
  const image = opts.image ?? SANDBOX_IMAGE;
  const tarball = opts.tarball ?? SANDBOX_IMAGE_TARBALL;
  if (await hasImage(docker, image)) return 'present';
  if (!existsSync(tarball)) {
    throw new SandboxImageError(
      'E_SANDBOX_IMAGE_TARBALL',
      `the Docker Engine lacks the sandbox image ${image} and its tarball ${tarball} is missing: reinstall the berth package (from a checkout: npm run build), or import it by hand with scripts/import-images.sh`,
    );
  }
  opts.log?.('info', 'importing the sandbox image into the Docker Engine', { image, tarball });
  try {
    const stream = await docker.importImage(createReadStream(tarball), { ...splitReference(image), changes: SANDBOX_IMAGE_CHANGES });
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
  } catch (err) {
    throw new SandboxImageError('E_SANDBOX_IMAGE_IMPORT', `importing ${tarball} as ${image} into the Docker Engine failed: ${(err as Error).message}`, { cause: err });
  }
  if (!(await hasImage(docker, image))) {
    throw new SandboxImageError('E_SANDBOX_IMAGE_IMPORT', `the Docker Engine accepted ${tarball} but has no ${image} afterwards`);
  }
  return 'imported';
}
