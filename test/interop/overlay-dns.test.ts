// A real manager's overlay network on the berth node: agentd plumbs each task's sandbox into
// the overlay (netd) and serves the embedded DNS inside it, so tasks find each other by name.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

test('tasks on an overlay network reach each other by service, tasks.<svc> and task names', async (t) => {
  const { manager, engine, status: st } = await startBerthCluster(t);
  t.is(st.dataPlane, 'on');

  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.123.0.0/24', 'appnet']);
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.124.0.0/24', 'othernet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`];
  await d.docker([...common, '--name', 'db', '--network', 'appnet', '--endpoint-mode', 'dnsrr', '--replicas', '2', TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--name', 'app', '--network', 'appnet', TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--name', 'lonely', '--network', 'othernet', TEST_IMAGE, 'sleep', '3600']);
  await waitFor(
    'all tasks Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'db', 'app', 'lonely', '--filter', 'desired-state=running', '--format', '{{.CurrentState}} {{.Error}}'])).stdout.trim().split('\n');
      return out.length === 4 && out.every((l) => l.startsWith('Running'));
    },
    60_000,
  );
  const container = async (svc: string) => (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n')[0]!;
  const app = await container('app');
  const lonely = await container('lonely');
  const exec = async (id: string, cmd: string) => (await engine.docker(['exec', id, 'sh', '-c', cmd], 30_000)).stdout;

  // The task's interface on the overlay and its resolver.
  const ifaces = await exec(app, 'ip -o -4 addr show eth0; cat /etc/resolv.conf');
  t.regex(ifaces, /inet 10\.123\.0\.\d+\/24/);
  t.regex(ifaces, /nameserver 127\.0\.0\.11/);

  // dnsrr service: all task IPs; tasks.<svc>: the same; both reachable over the overlay.
  const db = await exec(app, 'nslookup db 127.0.0.11');
  const dbIps = [...db.matchAll(/Address: (10\.123\.0\.\d+)/g)].map((m) => m[1]!);
  t.is(new Set(dbIps).size, 2, db);
  const tasksDb = await exec(app, 'nslookup tasks.db 127.0.0.11');
  t.deepEqual([...new Set([...tasksDb.matchAll(/Address: (10\.123\.0\.\d+)/g)].map((m) => m[1]!))].sort(), [...new Set(dbIps)].sort());
  for (const ip of dbIps) t.regex(await exec(app, `ping -c 1 -W 2 ${ip}`), /1 packets received/);
  t.regex(await exec(app, 'ping -c 1 -W 2 db'), /1 packets received/);

  // A task name resolves; a name on a network this task is not on does not.
  const dbTask = (await d.docker(['service', 'ps', 'db', '--no-trunc', '--format', '{{.Name}}.{{.ID}}'])).stdout.trim().split('\n')[0]!;
  t.regex(await exec(app, `nslookup ${dbTask} 127.0.0.11`), /Address: 10\.123\.0\.\d+/);
  const scoped = await engine.docker(['exec', lonely, 'nslookup', 'db', '127.0.0.11']).then(
    (r) => r.stdout,
    (e: Error) => e.message,
  );
  t.notRegex(scoped, /Address: 10\.123\./, 'othernet cannot see appnet names');
  // And othernet cannot reach appnet's addresses.
  const cross = await engine.docker(['exec', lonely, 'ping', '-c', '1', '-W', '1', dbIps[0]!]).then(
    () => 'reached',
    () => 'unreachable',
  );
  t.is(cross, 'unreachable');

  // Removing the service withdraws its names.
  await d.docker(['service', 'rm', 'db']);
  await waitFor('db names gone', async () => {
    const r = await engine.docker(['exec', app, 'nslookup', 'db', '127.0.0.11']).then((x) => x.stdout, (e: Error) => e.message);
    return !/Address: 10\.123\./.test(r);
  }, 30_000);
  t.pass();
});
