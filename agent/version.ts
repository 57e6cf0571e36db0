import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function readVersion(): string {
  // dist/agent/version.js and agent/version.ts sit at different depths below package.json.
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'berth' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next depth
    }
  }
  return '0.0.0-unknown';
}

export const BERTH_VERSION = readVersion();
