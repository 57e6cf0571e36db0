// berth in the cluster's gossip: agentd joins the real manager's memberlist/NetworkDB with the
// keys the manager sent it, announces its tasks' overlay endpoints and learns the Docker node's,
// so a task on the berth node and a task on Docker's own worker (the manager's node) reach each
// other over the same VXLAN overlay — both ways.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { run, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { builtAgentctl } from '../../scripts/lib/built.js';
import { controlRequest } from '../../agent/control.js';
import type { GossipStats } from '../../netd/gossip/index.js';
import type { NetworkStatus } from '../../netd/index.js';

test('a berth task and a Docker task on one overlay reach each other across nodes', async (t) => {
  const { manager, engine, agentd, status: st } = await startBerthCluster(t);
  const d = manager.dockerd;
  const gossip = () => controlRequest(agentd.controlSocket, '/gossip', 2_000) as Promise<GossipStats | null>;
  const joined = await waitFor('agentd in the gossip with the manager', async () => {
    const g = await gossip();
    return g && g.members >= 1 ? g : undefined;
  }, 30_000);
  t.log(`gossip node ${joined.node}, members ${joined.members}`);

  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.125.0.0/24', 'meshnet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--network', 'meshnet'];
  await d.docker([...common, '--name', 'onberth', '--constraint', `node.id==${st.nodeId}`, TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--name', 'ondocker', '--constraint', `node.id==${manager.nodeId}`, TEST_IMAGE, 'sleep', '3600']);
  await waitFor('both Running', async () => {
    const out = (await d.docker(['service', 'ps', 'onberth', 'ondocker', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
    return out.length === 2 && out.every((l) => l.startsWith('Running'));
  }, 60_000);

  const berthCtr = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=onberth', '--filter', 'label=io.berth.role=task'])).stdout.trim();
  const dockerCtr = (await d.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=ondocker'])).stdout.trim();
  const berthIp = /inet (10\.125\.0\.\d+)\//.exec((await engine.docker(['exec', berthCtr, 'ip', '-o', '-4', 'addr', 'show', 'eth0'])).stdout)?.[1];
  const dockerIp = (await d.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', dockerCtr])).stdout.trim().split(' ').find((ip) => ip.startsWith('10.125.0.'));
  t.truthy(berthIp);
  t.truthy(dockerIp);
  t.log(`berth task ${berthIp}, Docker task ${dockerIp}`);

  const ping = async (engineDocker: typeof d.docker, ctr: string, ip: string) => {
    try {
      return /1 packets received/.test((await engineDocker(['exec', ctr, 'ping', '-c', '1', '-W', '1', ip])).stdout);
    } catch {
      return false;
    }
  };
  await waitFor('berth → Docker over the overlay', () => ping(engine.docker, berthCtr, dockerIp!), 30_000);
  await waitFor('Docker → berth over the overlay', () => ping(d.docker, dockerCtr, berthIp!), 30_000);
  // Names across nodes (NetworkDB's endpoint_table): berth's DNS answers for the Docker task,
  // Docker's embedded DNS for the berth task.
  const lookup = async (engineDocker: typeof d.docker, ctr: string, name: string) => {
    try {
      return [...(await engineDocker(['exec', ctr, 'nslookup', name, '127.0.0.11'])).stdout.matchAll(/Address: (10\.125\.0\.\d+)/g)].map((m) => m[1]!);
    } catch {
      return [];
    }
  };
  const vipOf = async (svc: string) => (await d.docker(['service', 'inspect', '-f', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}', svc])).stdout.trim().split(' ')[0]!.split('/')[0]!;
  const [berthVip, dockerVip] = [await vipOf('onberth'), await vipOf('ondocker')];
  await waitFor('berth resolves tasks.ondocker', async () => (await lookup(engine.docker, berthCtr, 'tasks.ondocker')).includes(dockerIp!), 30_000, 500);
  t.deepEqual(await lookup(engine.docker, berthCtr, 'ondocker'), [dockerVip], 'the Docker service by its VIP');
  await waitFor('Docker resolves tasks.onberth', async () => (await lookup(d.docker, dockerCtr, 'tasks.onberth')).includes(berthIp!), 30_000, 500);
  t.deepEqual(await lookup(d.docker, dockerCtr, 'onberth'), [berthVip], 'the berth service by its VIP, from a Docker task');

  // What an operator sees: agentctl gossip (the built one, as shipped).
  const [agentctl, ...agentctlArgs] = await builtAgentctl();
  const ctl = await run(agentctl, [...agentctlArgs, '--socket', agentd.controlSocket, 'gossip']);
  const after = JSON.parse(ctl.stdout) as GossipStats;
  t.log(JSON.stringify(after));
  t.is(after.node, joined.node);
  // The manager's own view: the berth node is a peer of the network in its NetworkDB.
  const peers = (await d.docker(['network', 'inspect', '-v', 'meshnet', '--format', '{{json .Peers}}'])).stdout;
  t.true(peers.includes(joined.node) && peers.includes('10.77.0.2'), peers);
  t.true(after.networkdb.tableEventsIn >= 1, JSON.stringify(after.networkdb));
  t.true(after.memberlist.pingsAnswered + after.memberlist.pushPulls >= 1);
  // agentctl networks: the overlay with our sandbox and the Docker node's endpoint, the names held.
  const nets = JSON.parse((await run(agentctl, [...agentctlArgs, '--socket', agentd.controlSocket, 'networks'])).stdout) as NetworkStatus;
  t.log(JSON.stringify(nets.overlay));
  const mesh = nets.overlay.networks.find((n) => n.sandboxes > 0);
  t.truthy(mesh, JSON.stringify(nets.overlay));
  t.true(mesh!.programmed && mesh!.remoteEndpoints >= 1, JSON.stringify(mesh));
  t.true(nets.dns.records.tasks >= 2 && nets.dns.records.rejected === 0, JSON.stringify(nets.dns.records));

  // The Docker task goes: its endpoint and names leave the berth node's tables.
  await d.docker(['service', 'rm', 'ondocker']);
  await waitFor('the Docker endpoint withdrawn on the berth node', async () => !(await ping(engine.docker, berthCtr, dockerIp!)), 30_000);
  await waitFor('tasks.ondocker gone from berth\'s DNS', async () => (await lookup(engine.docker, berthCtr, 'tasks.ondocker')).length === 0, 30_000, 500);
  t.pass();
});
