// dist/ (scripts/build.sh) is the layout the package installs under /usr/lib/berth: everything
// agentd reads at run time must be in it. Copied away from the source tree, with / as working
// directory, it still loads the SwarmKit and NetworkDB protos, the native addon (a real netlink
// socket is opened with it) and finds the sandbox image tarball.
import test from 'ava';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_DIR, ensureBuilt } from '../../scripts/lib/built.js';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';
import { requireRoot, run } from '../../scripts/lib/exec.js';

const PROBE = `
  const root = process.argv[1];
  const { swarmApi } = await import(root + '/agent/proto/index.js');
  const api = swarmApi();
  const messages = await import(root + '/netd/gossip/messages.js');
  const native = await import(root + '/native/index.js');
  const { closeSync } = await import('node:fs');
  closeSync(native.openNetlinkInNetns('/proc/self/ns/net', 0));
  const { SANDBOX_IMAGE_TARBALL } = await import(root + '/agent/exec/docker/sandbox-image.js');
  const { existsSync } = await import('node:fs');
  process.stdout.write(JSON.stringify({
    dispatcher: typeof api.Dispatcher, ca: typeof api.NodeCA, gossip: Object.keys(messages).length > 0,
    tarball: SANDBOX_IMAGE_TARBALL, tarballExists: existsSync(SANDBOX_IMAGE_TARBALL),
  }));
`;

test('the built layout runs away from the source tree: protos, native addon, sandbox image tarball', async (t) => {
  requireRoot('opening a netlink socket through the native addon');
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'berth');
  cpSync(DIST_DIR, root, { recursive: true });
  // The package installs its own production node_modules beside the layout; here the project's.
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
  for (const f of ['agent/proto/dispatcher.proto', 'netd/gossip/networkdb.proto', 'native/build/Release/berth_native.node', 'images/pause.tar', 'package.json']) {
    t.true(existsSync(join(root, f)), `dist/${f} is part of the layout`);
  }
  const out = await run(process.execPath, ['--input-type=module', '-e', PROBE, root], { cwd: '/' });
  const r = JSON.parse(out.stdout) as { dispatcher: string; ca: string; gossip: boolean; tarball: string; tarballExists: boolean };
  t.is(r.dispatcher, 'function');
  t.is(r.ca, 'function');
  t.true(r.gossip);
  t.is(r.tarball, join(root, 'images', 'pause.tar'));
  t.true(r.tarballExists);
  const version = await run(process.execPath, [join(root, 'agent', 'cli', 'agentd.js'), '--version'], { cwd: '/' });
  t.is(version.stdout.trim(), (JSON.parse((await run('cat', [join(PROJECT_ROOT, 'package.json')])).stdout) as { version: string }).version);
});
