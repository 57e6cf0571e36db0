// A task on overlays gets the /etc/hosts Docker's own worker gives the same service: the same
// service spec runs once on the berth node and once on the manager's Docker worker, and the
// two files must match line for line but for the hostname and the addresses. berth makes the
// task's sandbox without the engine's networking (no libnetwork sandbox), so this file is its.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

test("/etc/hosts of a berth task on two overlays is what Docker's worker writes; the sandbox has no engine networking", async (t) => {
  const { manager, engine, status: st } = await startBerthCluster(t);
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.131.0.0/24', 'hostsnet1']);
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.132.0.0/24', 'hostsnet2']);
  const spec = ['--network', 'hostsnet1', '--network', 'hostsnet2', '--host', 'db.example:192.0.2.10', '--host', 'cache:192.0.2.11', '--publish', 'target=80', TEST_IMAGE, 'sleep', '3600'];
  const create = (name: string, node: string, ...extra: string[]) => d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--constraint', `node.id==${node}`, ...extra, ...spec]);
  await create('onberth', st.nodeId);
  await create('ondocker', manager.nodeId);
  await create('named', st.nodeId, '--hostname', '{{.Service.Name}}-{{.Task.Slot}}.example.org');
  await waitFor(
    'the three tasks Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'onberth', 'ondocker', 'named', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 3 && out.every((l) => l.startsWith('Running'));
    },
    90_000,
  );
  const onBerth = engine.docker.bind(engine);
  const onDocker = d.docker.bind(d);
  const taskOf = async (engineDocker: typeof engine.docker, svc: string) => (await engineDocker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`])).stdout.trim();
  const read = async (engineDocker: typeof engine.docker, id: string) => (await engineDocker(['exec', id, 'sh', '-c', 'hostname; echo ---; cat /etc/hosts'], 30_000)).stdout;
  const berthTask = await taskOf(onBerth, 'onberth');
  const dockerTask = await taskOf(onDocker, 'ondocker');
  const [berthHostname, berthHosts] = (await read(onBerth, berthTask)).split('---\n') as [string, string];
  const [dockerHostname, dockerHosts] = (await read(onDocker, dockerTask)).split('---\n') as [string, string];
  t.log(berthHosts);
  // The hostname and the overlay addresses differ by task; everything else is the same. Docker's
  // worker lists the overlays in the order its endpoints joined, berth in the order of the
  // task's attachments: neither follows the spec's.
  const shape = (hosts: string, hostname: string) => {
    const lines = hosts.replaceAll(hostname.trim(), '<host>').replace(/\b10\.13[12]\.0\.\d+\b/g, (a) => `${a.split('.').slice(0, 3).join('.')}.<n>`).split('\n');
    const own = lines.filter((l) => l.endsWith('\t<host>'));
    return { others: lines.filter((l) => !own.includes(l)), own: own.sort() };
  };
  t.deepEqual(shape(berthHosts, berthHostname), shape(dockerHosts, dockerHostname));
  t.regex(berthHosts, /\n10\.13[12]\.0\.\d+\t\S+\n10\.13[12]\.0\.\d+\t\S+\n$/, 'one line per overlay, no ingress address');
  // The task's own name resolves to the first address listed.
  const ownAddress = /\n(10\.13[12]\.0\.\d+)\t/.exec(berthHosts)![1]!;
  t.regex((await engine.docker(['exec', berthTask, 'ping', '-c', '1', '-W', '2', berthHostname.trim()])).stdout, new RegExp(`PING \\S+ \\(${ownAddress.replaceAll('.', '\\.')}\\)`));

  // A dotted hostname from a template: "fqdn short", as Docker writes it.
  const named = await taskOf(onBerth, 'named');
  t.regex(await read(onBerth, named), /^named-1\.example\.org\n---\n[\s\S]*\n10\.13[12]\.0\.\d+\tnamed-1\.example\.org named-1\n/);

  // IPv6 is off in the task's namespace and on its overlay interfaces, as on Docker's worker.
  const ipv6 = async (engineDocker: typeof engine.docker, id: string) =>
    (await engineDocker(['exec', id, 'sh', '-c', 'for f in all default lo eth0 eth1; do echo "$f $(cat /proc/sys/net/ipv6/conf/$f/disable_ipv6)"; done'])).stdout;
  const berthIpv6 = await ipv6(onBerth, berthTask);
  t.is(berthIpv6, await ipv6(onDocker, dockerTask));
  t.is(berthIpv6, 'all 1\ndefault 1\nlo 1\neth0 1\neth1 1\n');

  // The sandbox the engine made has no networking of its own (no libnetwork sandbox).
  const sandbox = JSON.parse((await engine.docker(['inspect', '--type', 'container', `berth-sandbox.${(await engine.docker(['inspect', '-f', '{{index .Config.Labels "com.docker.swarm.task.id"}}', berthTask])).stdout.trim()}`])).stdout)[0] as { Config: { NetworkDisabled?: boolean }; NetworkSettings: { SandboxKey: string } };
  t.true(sandbox.Config.NetworkDisabled);
  t.is(sandbox.NetworkSettings.SandboxKey, '');
});
