import test from 'ava';
import { createHosts } from '../../scripts/lib/hosts.js';
import { startSwarmManager } from '../../scripts/lib/swarm.js';

test('the manager harness returns the worker join token the manager agrees with', async (t) => {
  const underlay = await createHosts(1);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());

  t.regex(manager.workerToken, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  const fromCli = (await manager.dockerd.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
  t.is(manager.workerToken, fromCli);
  t.not(manager.workerToken, manager.managerToken);
  t.is(manager.address, `${underlay.hosts[0]!.address}:2377`);

  // The manager listens on the advertised address inside its host namespace.
  const listening = await underlay.hosts[0]!.exec('ss', ['-Htln', `sport = :2377`]);
  t.true(listening.includes(manager.address), listening);
  const nodes = (await manager.dockerd.docker(['node', 'ls', '--format', '{{.ID}} {{.ManagerStatus}}'])).stdout;
  t.true(nodes.includes(`${manager.nodeId} Leader`), nodes);
});
