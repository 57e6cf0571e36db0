import test from 'ava';
import { createHosts } from '../../scripts/lib/hosts.js';

test('two hosts ping each other over the underlay', async (t) => {
  const underlay = await createHosts(2);
  t.teardown(() => underlay.destroy());
  const [a, b] = underlay.hosts;
  const out = await a!.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', b!.address]);
  t.regex(out, /3 packets transmitted, 3 received/);
  // The underlay is private to its namespaces: the root namespace has no route to it.
  const routes = await b!.exec('ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
  t.true(routes.includes(`${b!.address}/${underlay.prefixLen}`));
});

test('hosts are gone after destroy', async (t) => {
  const underlay = await createHosts(1);
  const name = underlay.hosts[0]!.name;
  await underlay.destroy();
  const { run } = await import('../../scripts/lib/exec.js');
  const list = (await run('ip', ['netns', 'list'])).stdout;
  t.false(list.includes(name));
  t.false(list.includes(underlay.switchNetns));
});
