import test from 'ava';
import { existsSync } from 'node:fs';
import { startDockerd } from '../../scripts/lib/dockerd.js';
import { createHosts } from '../../scripts/lib/hosts.js';
import { PAUSE_IMAGE, TEST_IMAGE } from '../../scripts/lib/images.js';

test('a container runs and prints on a private dockerd inside a host namespace', async (t) => {
  const underlay = await createHosts(1);
  t.teardown(() => underlay.destroy());
  const engine = await startDockerd({ host: underlay.hosts[0]! });
  t.teardown(() => engine.stop());

  const images = (await engine.client.listImages()).flatMap((i) => i.RepoTags ?? []);
  t.true(images.includes(TEST_IMAGE), `images: ${images.join(', ')}`);
  t.true(images.includes(PAUSE_IMAGE), `images: ${images.join(', ')}`);

  const container = await engine.client.createContainer({
    Image: TEST_IMAGE,
    Cmd: ['sh', '-c', 'echo hello from $(hostname); cat /etc/passwd | head -1'],
    HostConfig: { NetworkMode: 'none' },
  });
  await container.start();
  const status = (await container.wait()) as { StatusCode: number };
  const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
  await container.remove({ force: true });
  t.is(status.StatusCode, 0);
  t.regex(logs, /hello from [0-9a-f]{12}/);
  t.regex(logs, /root:x:0:0/);
});

test('the pause image stops promptly on SIGTERM with exit code 0', async (t) => {
  const engine = await startDockerd({ host: (await createHosts(1).then((u) => (t.teardown(() => u.destroy()), u))).hosts[0]! });
  t.teardown(() => engine.stop());
  const container = await engine.client.createContainer({ Image: PAUSE_IMAGE, HostConfig: { NetworkMode: 'none' } });
  await container.start();
  const started = Date.now();
  await container.stop({ t: 10 });
  const elapsed = Date.now() - started;
  const info = await container.inspect();
  await container.remove({ force: true });
  t.is(info.State.ExitCode, 0);
  t.true(elapsed < 5_000, `stop took ${elapsed} ms (SIGTERM ignored?)`);
});

test('stop() removes the engine state and kills the daemon', async (t) => {
  const engine = await startDockerd({ images: false });
  await engine.stop();
  t.false(existsSync(engine.dataRoot));
  t.false(existsSync(engine.socketPath));
  t.throws(() => process.kill(engine.pid, 0));
});
