// Quickstart: a local cluster on this machine — a real Swarm manager (dockerd swarm init)
// and a berth node (its own dockerd + agentd), each in its own network namespace — then a
// demo service scheduled onto the berth node (its own DNS answering, a task on the manager's
// Docker worker reached over the same overlay through the gossip), then `agentctl status`.
//   npm run quickstart            bring it up (replaces a previous quickstart cluster)
//   npm run quickstart -- --down  tear it down
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHosts } from './lib/hosts.js';
import { startDockerd } from './lib/dockerd.js';
import { startSwarmManager } from './lib/swarm.js';
import { startAgentd, waitConnected } from './lib/agentd.js';
import { builtAgentctl } from './lib/built.js';
import { TEST_IMAGE } from './lib/images.js';
import { runQuiet, sleep, waitFor } from './lib/exec.js';

const STATE_FILE = '/run/berth-quickstart.json';
const DEMO_SERVICE = 'demo';
const DEMO_NETWORK = 'demo-net';
const PEER_SERVICE = 'peer';
/** The demo service's published port (the routing mesh). */
const DEMO_PORT = 8080;

interface QuickstartState {
  netns: string[];
  pids: number[];
  dirs: string[];
  agentctl: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function down(): Promise<void> {
  if (!existsSync(STATE_FILE)) return;
  const st = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as QuickstartState;
  for (const pid of st.pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (st.pids.some(alive) && Date.now() < deadline) await sleep(200);
  for (const pid of st.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
  for (const m of mounts.filter((m) => st.dirs.some((d) => m.startsWith(`${d}/`))).sort((a, b) => b.length - a.length)) await runQuiet('umount', ['-l', m]);
  for (const d of st.dirs) rmSync(d, { recursive: true, force: true });
  for (const n of st.netns) await runQuiet('ip', ['netns', 'del', n]);
  rmSync(STATE_FILE, { force: true });
  process.stderr.write('quickstart: previous cluster removed\n');
}

async function up(): Promise<void> {
  await down();
  process.stderr.write('quickstart: two hosts (network namespaces) on an underlay\n');
  const underlay = await createHosts(2, { subnetPrefix: '10.231.0' });
  const [managerHost, nodeHost] = underlay.hosts as [NonNullable<(typeof underlay.hosts)[0]>, NonNullable<(typeof underlay.hosts)[1]>];
  const st: QuickstartState = { netns: [underlay.switchNetns, managerHost.name, nodeHost.name], pids: [], dirs: [], agentctl: [] };
  const save = () => writeFileSync(STATE_FILE, JSON.stringify(st));
  save();
  process.stderr.write(`quickstart: Swarm manager (dockerd swarm init) on ${managerHost.address}\n`);
  const manager = await startSwarmManager(managerHost);
  st.pids.push(manager.dockerd.pid);
  st.dirs.push(manager.dockerd.dataRoot, manager.dockerd.execRoot);
  save();
  process.stderr.write(`quickstart: berth node: private dockerd + agentd on ${nodeHost.address}\n`);
  const engine = await startDockerd({ host: nodeHost });
  st.pids.push(engine.pid);
  st.dirs.push(engine.dataRoot, engine.execRoot);
  save();
  const agentd = await startAgentd({ host: nodeHost, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, hostname: 'berth-node-1', detached: true });
  st.pids.push(agentd.pid);
  st.dirs.push(agentd.stateDir, join(agentd.controlSocket, '..'));
  st.agentctl = [...(await builtAgentctl()), '--socket', agentd.controlSocket];
  save();
  const status = await waitConnected(agentd);
  process.stderr.write(`quickstart: agentd joined as node ${status.nodeId}; creating service "${DEMO_SERVICE}" (3 replicas on the berth node)\n`);
  await manager.dockerd.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.232.0.0/24', DEMO_NETWORK]);
  // Each replica serves its own name over HTTP, behind the service's VIP and a published port.
  // Not a dotted hostname like the task's name (demo.1.<id>): as on Docker's worker, the task's
  // /etc/hosts would then map its first label, `demo`, to the task itself, and the requests
  // below would never reach the VIP.
  await manager.dockerd.docker([
    'service', 'create', '--detach', '--no-resolve-image', '--name', DEMO_SERVICE, '--network', DEMO_NETWORK, '--replicas', '3', '--constraint', `node.id==${status.nodeId}`,
    '--hostname', '{{.Service.Name}}-{{.Task.Slot}}', '--publish', `published=${DEMO_PORT},target=80`,
    TEST_IMAGE, 'sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www',
  ]);
  await waitFor(
    'the demo service to be Running on the berth node',
    async () => {
      const ps = (await manager.dockerd.docker(['service', 'ps', DEMO_SERVICE, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return ps.length === 3 && ps.every((l) => l.startsWith('Running'));
    },
    60_000,
  );
  const docker = `docker -H ${manager.dockerd.dockerHost}`;
  process.stdout.write(`\n$ ${docker} node ls\n${(await manager.dockerd.docker(['node', 'ls'])).stdout}`);
  process.stdout.write(`\n$ ${docker} service ps ${DEMO_SERVICE}\n${(await manager.dockerd.docker(['service', 'ps', DEMO_SERVICE])).stdout}`);
  const task = (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${DEMO_SERVICE}`, '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n')[0]!;
  process.stdout.write(`\n$ docker -H ${engine.dockerHost} exec ${task} nslookup tasks.${DEMO_SERVICE}   # berth's embedded DNS, inside the task\n`);
  process.stdout.write((await engine.docker(['exec', task, 'nslookup', `tasks.${DEMO_SERVICE}`])).stdout);
  // The service's VIP from a task (berth's load balancer spreads the requests over the
  // replicas) and its published port from the manager's host (the routing mesh on the berth node).
  const viaVip = await waitFor(
    'the demo service to answer through its VIP',
    async () => {
      const out: string[] = [];
      for (let i = 0; i < 3; i++) out.push((await engine.docker(['exec', task, 'wget', '-qO-', `http://${DEMO_SERVICE}/`]).catch(() => ({ stdout: '' }))).stdout.trim());
      return out.every((l) => l.startsWith('hello from')) ? out : undefined;
    },
    60_000,
    500,
  );
  process.stdout.write(`\n$ docker -H ${engine.dockerHost} exec ${task} wget -qO- http://${DEMO_SERVICE}/   # three times: the service's VIP, balanced by berth\n${viaVip.join('\n')}\n`);
  const viaPort = await waitFor(
    'the published port to answer on the berth node',
    async () => {
      const out = (await managerHost.exec('timeout', ['5', 'wget', '-qO-', `http://${nodeHost.address}:${DEMO_PORT}/`]).catch(() => '')).trim();
      return out.startsWith('hello from') ? out : undefined;
    },
    60_000,
    500,
  );
  process.stdout.write(`\n$ wget -qO- http://${nodeHost.address}:${DEMO_PORT}/   # from the manager's host: the published port on the berth node\n${viaPort}\n`);
  // A task on Docker's own worker (the manager's node) on the same overlay: the two nodes learn
  // each other's endpoints through the cluster's gossip.
  await manager.dockerd.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', PEER_SERVICE, '--network', DEMO_NETWORK, '--constraint', `node.id==${manager.nodeId}`, TEST_IMAGE, 'sleep', '86400']);
  const peerIp = await waitFor(
    'the peer task on the Docker node to be Running',
    async () => {
      const id = (await manager.dockerd.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${PEER_SERVICE}`])).stdout.trim();
      if (!id) return undefined;
      const ips = (await manager.dockerd.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).stdout.trim().split(' ');
      return ips.find((ip) => ip.startsWith('10.232.0.'));
    },
    60_000,
  );
  const ping = await waitFor(
    'the berth task to reach the Docker task over the overlay',
    async () => {
      const r = await engine.docker(['exec', task, 'ping', '-c', '2', '-W', '1', peerIp]).catch(() => undefined);
      return r && /2 packets received/.test(r.stdout) ? r.stdout : undefined;
    },
    60_000,
    500,
  );
  process.stdout.write(`\n$ docker -H ${engine.dockerHost} exec ${task} ping -c 2 ${peerIp}   # a task on Docker's own worker, across nodes\n${ping}`);
  process.stdout.write(`\n$ agentctl gossip\n`);
  const g = spawnSync(st.agentctl[0]!, [...st.agentctl.slice(1), 'gossip'], { cwd: '/', stdio: ['ignore', 'inherit', 'inherit'] });
  if (g.status !== 0) throw new Error('agentctl gossip failed');
  process.stdout.write(`\n$ agentctl status\n`);
  const r = spawnSync(st.agentctl[0]!, [...st.agentctl.slice(1), 'status'], { cwd: '/', stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('agentctl status failed');
  process.stdout.write(
    `\nThe cluster keeps running. Try:\n  ${docker} service scale ${DEMO_SERVICE}=5\n  nsenter --net=${nodeHost.netnsPath} wget -qO- http://${nodeHost.address}:${DEMO_PORT}/\n  ${st.agentctl.join(' ')} status\n  npm run quickstart -- --down\n`,
  );
}

const wantDown = process.argv.includes('--down');
(wantDown ? down() : up()).then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`quickstart failed: ${(err as Error).message}\n`);
    if (!wantDown) await down().catch(() => undefined);
    process.exit(1);
  },
);
