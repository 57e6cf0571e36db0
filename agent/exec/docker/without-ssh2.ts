// dockerode's modem requires ssh2 when it loads, for engines reached over ssh://, and ssh2
// instantiates its poly1305 asm.js module right then: a 16 MiB heap plus its code, ~19 MB of
// RSS (measured: `node -e "require('ssh2')"` 61.8 MB against 42.6 MB bare) in an agentd that
// only ever dials a unix socket or tcp:// (dockerClient refuses ssh://). So, before dockerode is
// imported, the module cache gets a stand-in under ssh2's own resolved path: the modem finds it
// there and never loads the real one. Import this module before dockerode.
import { createRequire } from 'node:module';
import { ConfigError } from '../../errors.js';

const requireHere = createRequire(import.meta.url);

/** The path dockerode's modem would load ssh2 from (its own node_modules, or a hoisted one). */
function ssh2Path(): string | undefined {
  try {
    const fromDockerode = createRequire(requireHere.resolve('dockerode'));
    const fromModem = createRequire(fromDockerode.resolve('docker-modem'));
    return fromModem.resolve('ssh2');
  } catch {
    return undefined;
  }
}

/** What the modem constructs for an ssh:// engine; berth never asks it for one. */
function Client(): never {
  throw new ConfigError('E_DOCKER_HOST_SSH', 'berth reaches the Docker Engine over unix:// or tcp:// only, not ssh:// (set --docker-host to the engine\'s socket)');
}

const path = ssh2Path();
if (path !== undefined && !(path in requireHere.cache)) {
  const Module = requireHere('node:module') as { new (id: string): NodeJS.Module };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = { Client };
  requireHere.cache[path] = standIn;
}
