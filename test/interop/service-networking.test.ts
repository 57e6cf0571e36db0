// Service networking on a berth node with a real manager: a default (VIP) service answers by
// its VIP from another task, balanced over its replicas; a published port (routing mesh)
// answers on the berth host's address; agentctl names the VIP backend and shows the DNS's
// counters (drops included). On this machine's kernel
// (no IPVS) Docker's own worker answers neither — berth's nftables backend does.
import test from 'ava';
import { builtAgentctl } from '../../scripts/lib/built.js';
import { startBerthCluster } from '../harness/cluster.js';
import { run, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const HTTP_PORT = 8080;
const PUBLISHED_PORT = 18080;
/** Each replica serves its own hostname, so answers show which one was reached. */
const SERVE = `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`;
const REQUESTS = 20;
const DOCKER_PUBLISHED_PORT = 18081;
const HOST_MODE_PORT = 18082;
/** The manager's swarm port: something listening on the underlay, on no overlay. */
const SWARM_PORT = 2377;

test('a VIP service balances across its replicas; published ports answer on the berth host, for berth and Docker tasks; tasks reach the underlay', async (t) => {
  const { manager, engine, underlay, agentd, status: st } = await startBerthCluster(t);
  t.is(st.dataPlane, 'on');
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.125.0.0/24', 'svcnet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', 'svcnet'];
  await d.docker([...common, '--name', 'web', '--replicas', '2', '--hostname', '{{.Task.Name}}', '--publish', `published=${PUBLISHED_PORT},target=${HTTP_PORT}`, TEST_IMAGE, 'sh', '-c', SERVE]);
  await d.docker([...common, '--name', 'client', TEST_IMAGE, 'sleep', '3600']);
  // mode=host: published on the task's own node only, straight to the task.
  await d.docker([...common, '--name', 'hweb', '--hostname', '{{.Task.Name}}', '--publish', `published=${HOST_MODE_PORT},target=${HTTP_PORT},mode=host`, TEST_IMAGE, 'sh', '-c', SERVE]);
  // A mixed cluster: this service's one task runs on the manager's own Docker worker.
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${manager.nodeId}`, '--network', 'svcnet', '--name', 'dweb', '--hostname', '{{.Task.Name}}', '--publish', `published=${DOCKER_PUBLISHED_PORT},target=${HTTP_PORT}`, TEST_IMAGE, 'sh', '-c', SERVE]);
  await waitFor(
    'web, dweb and client Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'web', 'client', 'dweb', 'hweb', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 5 && out.every((l) => l.startsWith('Running'));
    },
    90_000,
  ).catch(async (err: Error) => {
    t.log((await d.docker(['service', 'ps', '--no-trunc', 'web', 'client', 'dweb', 'hweb'])).stdout);
    t.log(agentd.logs().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-20).join('\n'));
    throw err;
  });
  const client = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=client', '--filter', 'label=io.berth.role=task'])).stdout.trim();
  const exec = (cmd: string) => engine.docker(['exec', client, 'sh', '-c', cmd], 30_000).then((r) => r.stdout, (e: Error) => `failed: ${e.message}`);

  // The service name resolves to its VIP, which is not a task's address.
  const vip = (await d.docker(['service', 'inspect', 'web', '--format', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}'])).stdout.trim().split(' ').find((a) => a.startsWith('10.125.'))?.split('/')[0];
  t.truthy(vip, 'web has a VIP on svcnet');
  t.regex(await exec('nslookup web 127.0.0.11'), new RegExp(`Address: ${vip!.replace(/\./g, '\\.')}`));

  // By VIP (the load balancer may take a moment after RUNNING: the node's LB address comes in
  // the node object): every answer from a replica, both replicas seen.
  await waitFor('the VIP answers', async () => /^web\.\d/.test((await exec(`timeout 3 wget -qO- http://${vip}:${HTTP_PORT}/`)).trim()), 30_000, 500);
  const seen = new Map<string, number>();
  for (let i = 0; i < REQUESTS; i++) {
    const who = (await exec(`timeout 3 wget -qO- http://web:${HTTP_PORT}/`)).trim();
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  t.log(JSON.stringify(Object.fromEntries(seen)));
  t.is([...seen.keys()].filter((k) => /^web\.\d\./.test(k)).length, 2, `both replicas answer through the VIP: ${JSON.stringify(Object.fromEntries(seen))}`);
  t.is([...seen.keys()].every((k) => /^web\.\d\./.test(k)), true, 'every request answered by a replica');

  // The published port, from the berth host's own namespace and from the manager's host.
  const berthHost = underlay.hosts[1]!;
  const fromHost = async (host: typeof berthHost) => host.exec('timeout', ['5', 'wget', '-qO-', `http://${berthHost.address}:${PUBLISHED_PORT}/`]).then((o) => o.trim(), (e: Error) => `failed: ${e.message}`);
  await waitFor('the published port answers on the berth host', async () => /^web\.\d\./.test(await fromHost(berthHost)), 30_000, 500).catch(async (err: Error) => {
    t.log(agentd.logs().split('\n').filter((l) => /"level":(30|40|50)/.test(l)).slice(-40).join('\n'));
    t.log(await berthHost.exec('ip', ['-o', 'link']).catch((e: Error) => e.message));
    const ingressId = (await d.docker(['network', 'inspect', '-f', '{{.Id}}', 'ingress'])).stdout.trim();
    const ns = `${agentd.controlSocket.replace(/agentd\.sock$/, '')}netns/berth-ov-${ingressId.slice(0, 12)}`;
    t.log(await run('nsenter', [`--net=${ns}`, '/usr/sbin/nft', 'list', 'ruleset']).then((r) => r.stdout, (e: Error) => e.message));
    t.log(await run('nsenter', [`--net=${ns}`, 'ip', '-o', '-4', 'addr']).then((r) => r.stdout, (e: Error) => e.message));
    t.log(await run('nsenter', [`--net=${ns}`, 'ip', 'route']).then((r) => r.stdout, (e: Error) => e.message));
    throw err;
  });
  t.regex(await fromHost(underlay.hosts[0]!), /^web\.\d\./, 'reached from another host');

  // mode=host: the berth host's port goes to the task on it, from another host too.
  t.regex(await underlay.hosts[0]!.exec('timeout', ['5', 'wget', '-qO-', `http://${berthHost.address}:${HOST_MODE_PORT}/`]).catch((e: Error) => e.message), /^hweb\.1\./);

  // The Docker node's task: through its VIP from the berth task, and through the routing mesh
  // on the berth host (berth balances to it over the overlay; Docker's own IPVS is absent here).
  await waitFor('the Docker task answers by VIP from the berth task', async () => /^dweb\.1\./.test((await exec(`timeout 3 wget -qO- http://dweb:${HTTP_PORT}/`)).trim()), 60_000, 500);
  await waitFor('the Docker task answers on the berth host\'s published port', async () => /^dweb\.1\./.test((await berthHost.exec('timeout', ['5', 'wget', '-qO-', `http://${berthHost.address}:${DOCKER_PUBLISHED_PORT}/`]).catch(() => '')).trim()), 60_000, 500);

  // Egress: the task reaches an underlay address that is on no overlay (masqueraded through
  // berth's gateway bridge), ICMP and TCP.
  const managerAddress = underlay.hosts[0]!.address;
  t.regex(await exec(`ping -c 1 -W 2 ${managerAddress}`), /1 packets received/);
  t.regex(await exec(`nc -w 3 ${managerAddress} ${SWARM_PORT} </dev/null && echo connected`), /connected/);

  const s = await agentd.status();
  t.regex(String(s.vipBackend), /^(nftables|ipvs)$/);
  // The client's lookups of `web` went through the embedded DNS; its drop counters are there too.
  t.true((s.dns?.server.queries ?? 0) > 0, 'the DNS counters are in the status');
  t.is(s.dns?.forwarder.wrongSource, 0);
  const [ctl, ...ctlArgs] = await builtAgentctl();
  const text = (await run(ctl, [...ctlArgs, '--socket', agentd.controlSocket, 'status'], { cwd: '/' })).stdout;
  t.regex(text, /^dns: +\d+ queries/m);
  t.regex(text, /dropped: +0 answers from a wrong source, \d+ unmatched answers/);
  t.regex(text, /refused: +\d+ over a sandbox's share, \d+ over the node's queue/);
});
