// agentctl as an operator runs it (the real CLI, as a process) against a real agentd joined to a
// real manager, with services on two overlay networks: each command's JSON and its human
// table checked for content; `dns --task` answered from inside the task's sandbox (the VIP of a
// service on its network, NXDOMAIN for one on a network it is not on); `doctor` reporting this
// kernel as it is (no IPVS, nftables in use) and still working once agentd is stopped; the exit
// statuses (3: agentd not running, 4: a failed check or lookup).
//
// The berth host's namespace has no way out, so the host's resolver (which a name berth does
// not hold is forwarded to) is brought to it: its address on the namespace's loopback, and a
// relay there to the real resolver from this process's namespace. The answer is the real one.
import test from 'ava';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startBerthCluster } from '../harness/cluster.js';
import { run, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { openSocketInNetns } from '../../native/index.js';
import type { TestHost } from '../../scripts/lib/hosts.js';
import type { AgentStatus } from '../../agent/agent.js';
import type { TaskView } from '../../agent/worker/worker.js';
import type { TaskAnswer } from '../../agent/control-endpoints.js';
import type { CheckResult } from '../../agent/doctor/index.js';
import type { NetworkPeers, NetworkStatus, VipView } from '../../netd/index.js';
import type { ProbeAnswer } from '../../dns/index.js';
import { builtAgentctl } from '../../scripts/lib/built.js';


interface Ctl {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real agentctl, in `host`'s namespace when given (doctor looks at that host's ports and links). */
async function agentctl(socket: string, args: string[], host?: TestHost): Promise<Ctl> {
  const [node, ...built] = await builtAgentctl();
  const argv = [...built, '--socket', socket, ...args];
  const [cmd, cmdArgs] = host ? ['nsenter', [`--net=${host.netnsPath}`, node, ...argv]] : [node, argv];
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function json<T>(socket: string, args: string[], host?: TestHost): Promise<{ value: T; code: number | null }> {
  const r = await agentctl(socket, [...args, '--json'], host);
  try {
    return { value: JSON.parse(r.stdout) as T, code: r.code };
  } catch {
    throw new Error(`agentctl ${args.join(' ')} --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

/** Relays DNS from `host`'s namespace, at the address of the machine's resolver, to that resolver. */
function relayResolver(host: TestHost, resolver: string): () => void {
  const inside = dgram.createSocket('udp4');
  inside.bind({ fd: openSocketInNetns(host.netnsPath, { type: 'udp', address: resolver, port: 53 }) });
  const outside = dgram.createSocket('udp4');
  const clients = new Map<number, { port: number; address: string }>();
  inside.on('message', (msg, from) => {
    clients.set(msg.readUInt16BE(0), { port: from.port, address: from.address });
    outside.send(msg, 53, resolver);
  });
  outside.on('message', (msg) => {
    const to = clients.get(msg.readUInt16BE(0));
    if (to) inside.send(msg, to.port, to.address);
  });
  return () => {
    inside.close();
    outside.close();
  };
}

test('agentctl exits 3 when agentd is not running, and says so', async (t) => {
  for (const args of [['status'], ['tasks', '--json'], ['dns', 'web', '--task', 'x']]) {
    const r = await agentctl('/run/bt/no-such-agentd/agentd.sock', args);
    t.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /agentd is not running \(no control socket at \/run\/bt\/no-such-agentd\/agentd\.sock\) \[E_AGENTD_NOT_RUNNING\]/);
  }
  const usage = await agentctl('/run/bt/no-such-agentd/agentd.sock', ['dns', 'web']);
  t.is(usage.code, 2, 'a missing --task is a usage error');
});

test('every agentctl command against a real agentd and manager: JSON and tables, dns as the task sees it, doctor', async (t) => {
  const { manager, agentd, underlay, status: st } = await startBerthCluster(t);
  const berthHost = underlay.hosts[1]!;
  const sock = agentd.controlSocket;
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.126.0.0/24', 'appnet']);
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.127.0.0/24', 'othernet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`];
  await d.docker([...common, '--network', 'appnet', '--name', 'web', '--replicas', '2', TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--network', 'appnet', '--name', 'client', TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--network', 'othernet', '--name', 'other', TEST_IMAGE, 'sleep', '3600']);
  await waitFor(
    'web, client and other Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'web', 'client', 'other', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 4 && out.every((l) => l.startsWith('Running'));
    },
    120_000,
  );
  const vipOf = async (svc: string, prefix: string) =>
    (await d.docker(['service', 'inspect', svc, '--format', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}'])).stdout.trim().split(' ').find((a) => a.startsWith(prefix))!.split('/')[0]!;
  const webVip = await vipOf('web', '10.126.');
  const otherVip = await vipOf('other', '10.127.');

  // status
  const status = await json<AgentStatus>(sock, ['status']);
  t.is(status.code, 0);
  t.is(status.value.nodeId, st.nodeId);
  t.true(status.value.connected);
  const statusText = await agentctl(sock, ['status']);
  t.regex(statusText.stdout, new RegExp(`^node: +${st.nodeId} `, 'm'));
  t.regex(statusText.stdout, /^data plane: +on +\(vip backend: nftables\)/m);

  // tasks
  const tasks = await json<TaskView[]>(sock, ['tasks']);
  t.is(tasks.code, 0);
  t.deepEqual(tasks.value.map((x) => x.service).sort(), ['client', 'other', 'web', 'web']);
  t.true(tasks.value.every((x) => x.state === 'RUNNING'), JSON.stringify(tasks.value));
  const client = tasks.value.find((x) => x.service === 'client')!;
  const other = tasks.value.find((x) => x.service === 'other')!;
  const tasksText = (await agentctl(sock, ['tasks'])).stdout;
  t.regex(tasksText, /^ID +TASK +STATE +DESIRED +IMAGE +MESSAGE$/m);
  t.regex(tasksText, new RegExp(`^${client.id.slice(0, 12)} +client\\.1 +RUNNING +RUNNING +${TEST_IMAGE.replace(/[./]/g, '\\$&')} `, 'm'));

  // task <id> (a prefix works)
  const task = await json<TaskAnswer>(sock, ['task', client.id.slice(0, 10)]);
  t.is(task.code, 0);
  t.is(task.value.id, client.id);
  const appnet = task.value.networks.find((n) => n.name === 'appnet');
  t.truthy(appnet, JSON.stringify(task.value.networks));
  t.regex(appnet!.addresses[0] ?? '', /^10\.126\.0\.\d+\/24$/);
  t.truthy(task.value.sandbox, 'the task has a sandbox');
  const taskText = (await agentctl(sock, ['task', client.id])).stdout;
  t.regex(taskText, /^state: +RUNNING since /m);
  t.regex(taskText, new RegExp(`^ +appnet +[0-9a-z]{12} +${appnet!.addresses[0]!.replace(/\./g, '\\.')}$`, 'm'));
  const missing = await agentctl(sock, ['task', 'nosuchtask']);
  t.is(missing.code, 4);
  t.regex(missing.stderr, /no task nosuchtask on this node.*\[E_NO_SUCH_TASK\]/);

  // networks
  const nets = await json<NetworkStatus>(sock, ['networks']);
  t.is(nets.value.overlay.networks.length >= 2, true, JSON.stringify(nets.value.overlay));
  const netsText = (await agentctl(sock, ['networks'])).stdout;
  t.regex(netsText, /^NETWORK +VNI +SANDBOXES +REMOTE ENDPOINTS +NAMESPACE$/m);
  for (const n of nets.value.overlay.networks) t.regex(netsText, new RegExp(`^${n.id.slice(0, 12)} +${n.vni} +${n.sandboxes} `, 'm'));
  t.regex(netsText, /^vip: +nftables, /m);

  // vips: web's VIP on appnet, its two replicas behind it
  const webIps = (await Promise.all(tasks.value.filter((x) => x.service === 'web').map(async (x) => (await json<TaskAnswer>(sock, ['task', x.id])).value.networks.find((n) => n.name === 'appnet')!.addresses[0]!.split('/')[0]!))).sort();
  const vips = await waitFor(
    'web balanced on appnet with both replicas',
    async () => {
      const v = (await json<VipView>(sock, ['vips'])).value;
      const web = v.networks.find((n) => n.name === 'appnet')?.services.find((s) => s.name === 'web');
      return web && web.backends.length === 2 ? v : undefined;
    },
    60_000,
    500,
  );
  t.is(vips.backend, 'nftables');
  const web = vips.networks.find((n) => n.name === 'appnet')!.services.find((s) => s.name === 'web')!;
  t.is(web.vip, webVip);
  t.deepEqual(web.backends.map((b) => b.ip).sort(), webIps);
  const vipsText = (await agentctl(sock, ['vips'])).stdout;
  t.regex(vipsText, /^backend: nftables$/m);
  t.regex(vipsText, new RegExp(`^appnet +web +${webVip.replace(/\./g, '\\.')} +- +${webIps.map((ip) => ip.replace(/\./g, '\\.')).join(', ')}$`, 'm'));

  // peers: the manager's Docker node in the gossip
  const peers = await waitFor(
    'the manager in the gossip members',
    async () => {
      const p = (await json<NetworkPeers>(sock, ['peers'])).value;
      return p.members.some((m) => m.address === manager.address.split(':')[0] && m.state === 'alive') ? p : undefined;
    },
    60_000,
    500,
  );
  t.truthy(peers.node);
  const peersText = (await agentctl(sock, ['peers'])).stdout;
  t.regex(peersText, new RegExp(`^gossip node: ${peers.node}$`, 'm'));
  t.regex(peersText, new RegExp(`^[0-9a-f]+ +${manager.address.split(':')[0]!.replace(/\./g, '\\.')}:7946 +alive `, 'm'));
  t.regex(peersText, /^appnet +[0-9a-z]{12} +\d+$/m);
  // peers --endpoints: the endpoint_table as gossiped, this node's task names with their owner
  const withEntries = (await json<NetworkPeers>(sock, ['peers', '--endpoints'])).value;
  const clientEntry = withEntries.endpoints?.find((e) => e.service === 'client' && e.networkName === 'appnet');
  t.truthy(clientEntry, JSON.stringify(withEntries.endpoints));
  t.is(clientEntry!.owner, peers.node!);
  t.is(`${clientEntry!.ip}/24`, appnet!.addresses[0]!);
  t.is(withEntries.endpoints!.filter((e) => e.service === 'web' && e.networkName === 'appnet').length, 2);
  const entriesText = (await agentctl(sock, ['peers', '--endpoints'])).stdout;
  t.regex(entriesText, new RegExp(`^appnet +${clientEntry!.name.replace(/\./g, '\\.')} +client +${clientEntry!.ip.replace(/\./g, '\\.')} +${peers.node} *$`, 'm'));

  // dns --task: as the client task sees it, and as the task on othernet does
  const resolver = /^nameserver\s+(\S+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1];
  t.truthy(resolver, 'the machine has a resolver');
  await berthHost.exec('ip', ['addr', 'add', `${resolver}/32`, 'dev', 'lo']);
  const stopRelay = relayResolver(berthHost, resolver!);
  t.teardown(stopRelay);
  const seen = await json<ProbeAnswer>(sock, ['dns', 'web', '--task', client.id]);
  t.is(seen.code, 0);
  t.is(seen.value.rcode, 'NOERROR');
  t.deepEqual(seen.value.answers.map((a) => a.data), [webVip]);
  const seenText = await agentctl(sock, ['dns', 'web', '--task', client.id]);
  t.regex(seenText.stdout, /^web A from task [0-9a-z]{12}: NOERROR, answered by berth$/m);
  t.regex(seenText.stdout, new RegExp(`^web +A +600 +${webVip.replace(/\./g, '\\.')}$`, 'm'));
  const notOnNet = await json<ProbeAnswer>(sock, ['dns', 'other', '--task', client.id]);
  t.is(notOnNet.value.rcode, 'NXDOMAIN', JSON.stringify(notOnNet.value));
  t.is(notOnNet.code, 4, 'no answer: exit 4');
  t.regex((await agentctl(sock, ['dns', 'other', '--task', client.id])).stdout, /^other A from task [0-9a-z]{12}: NXDOMAIN, from the host's resolvers$/m);
  const fromOther = await json<ProbeAnswer>(sock, ['dns', 'other', '--task', other.id]);
  t.deepEqual(fromOther.value.answers.map((a) => a.data), [otherVip], 'the task on othernet sees its own service');

  // version
  const version = await json<{ berth: string; node: string; agentd?: string }>(sock, ['version']);
  t.is(version.value.agentd, version.value.berth);
  t.is(version.value.node, process.versions.node);

  // doctor, in the berth host's namespace: this kernel as it is
  const doc = await json<{ ok: boolean; checks: CheckResult[] }>(sock, ['doctor'], berthHost);
  const check = (id: string) => doc.value.checks.find((c) => c.id === id)!;
  t.log(doc.value.checks.map((c) => `${c.status} ${c.id}: ${c.detail}`).join('\n'));
  t.is(doc.code, 0, 'no check fails on this machine');
  t.true(doc.value.ok);
  t.is(check('vip-backend').status, 'pass');
  t.like(check('vip-backend').data, { ipvs: false, nftables: true, auto: 'nftables', inUse: 'nftables' });
  t.is(check('agentd').status, 'pass');
  t.regex(check('port-7946-tcp').detail, new RegExp(`^held by agentd \\(pid \\d+\\)$`));
  t.regex(check('port-7946-udp').detail, /^held by agentd/);
  t.regex(check('port-4789-udp').detail, /VXLAN sockets of berth's overlays/);
  t.is(check('port-2377').status, 'pass');
  t.is(check('docker').status, 'pass');
  t.is(check('pause-image').status, 'pass');
  t.is(check('mtu').status, 'pass');
  t.like(check('mtu').data, { iface: 'eth0', advertiseAddress: berthHost.address });
  t.is(check('certificate').status, 'pass');
  t.is(check('clock-skew').status, 'pass', check('clock-skew').detail);
  t.true((check('clock-skew').data as { samples: number }).samples > 0);
  const docText = await agentctl(sock, ['doctor'], berthHost);
  t.regex(docText.stdout, /^PASS +kernel: VIP backend +IPVS absent, nftables usable; agentd uses nftables$/m);
  t.regex(docText.stdout, /^\d+ passed, \d+ warnings, 0 failed, 0 not checked$/m);

  // agentd stopped: doctor checks what it can and says what it could not; the rest exits 3.
  await agentd.kill('SIGTERM');
  const stopped = await json<{ ok: boolean; checks: CheckResult[] }>(sock, ['doctor', '--state-dir', agentd.stateDir, '--manager', manager.address], berthHost);
  const was = (id: string) => stopped.value.checks.find((c) => c.id === id)!;
  t.is(was('agentd').status, 'warn');
  t.regex(was('agentd').detail, /agentd is not running/);
  t.is(was('clock-skew').status, 'skip');
  t.is(was('certificate').status, 'pass', 'read from the state dir');
  t.is(was('port-2377').status, 'pass');
  t.like(was('vip-backend').data, { ipvs: false, auto: 'nftables', inUse: null });
  t.regex(was('port-4789-udp').detail, /VXLAN device of no running agentd/);
  t.is((await agentctl(sock, ['status'])).code, 3);
  await run('true', []);
});
