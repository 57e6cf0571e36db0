// Runs inside a VM guest (Debian's kernel, which has IPVS): the IPVS VIP backend end to end,
// batched into one boot. Topology, all on one bridge inside the "LB namespace" (as berth's
// overlay namespace holds br0):
//   lb:  br0 10.77.0.2/24 (the SNAT source) + the VIPs as /32 (what OverlayDataPlane.setLoadBalancer does)
//   b1, b2: backends 10.77.0.11 / .12, served from this process (sockets opened in their namespaces)
//   c:   the client 10.77.0.50, driven through test/vm/guest/vip-client.mjs
// Then the shared scenarios every VIP backend runs (test/integration/vip-scenarios.ts).
// Prints one JSON line of named results; exits 0 only when every check passed.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openSocketInNetns } from '../../../native/index.js';
import { NetdValidationError } from '../../../netd/errors.js';
import { IpvsBackend, ipvsAvailable, isBerthMark } from '../../../netd/vip/ipvs.js';
import type { LoadBalancerSpec, LbService, VipBackend } from '../../../netd/vip/types.js';
import { runVipScenarios } from '../../integration/vip-scenarios.js';

const exec = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const CLIENT_SCRIPT = join(HERE, 'vip-client.mjs');
const NETNS_DIR = '/var/run/netns';
const PREFIX = 'bvip';
const SUBNET = '10.77.0.0/24';
const SOURCE = '10.77.0.2';
const VIP = '10.77.0.100';
const VIP2 = '10.77.0.101';
const CLIENT = '10.77.0.50';
const BACKENDS = { b1: '10.77.0.11', b2: '10.77.0.12' } as const;
const TCP_PORT = 80;
const MESH_PORT = 8080;
const UDP_PORT = 5000;
const FOREIGN_MARK = 77;
const BULK_SERVICES = 300;
const BULK_BACKENDS = 4;

const results: Record<string, unknown> = {};
const counts: Record<string, unknown> = {};
const t0 = Date.now();

function log(msg: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await exec(cmd, args, { encoding: 'utf8' })).stdout;
}

const nsPath = (n: string) => `${NETNS_DIR}/${PREFIX}-${n}`;
const inNs = (n: string, ...argv: string[]) => sh('nsenter', `--net=${nsPath(n)}`, ...argv);

async function topology(): Promise<void> {
  for (const n of ['lb', 'c', 'b1', 'b2']) {
    await sh('ip', 'netns', 'add', `${PREFIX}-${n}`);
    await inNs(n, 'ip', 'link', 'set', 'lo', 'up');
  }
  await inNs('lb', 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  await inNs('lb', 'ip', 'addr', 'add', `${SOURCE}/24`, 'dev', 'br0');
  for (const vip of [VIP, VIP2]) await inNs('lb', 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'br0');
  await inNs('lb', 'ip', 'link', 'set', 'br0', 'up');
  const addrs: Record<string, string> = { c: CLIENT, ...BACKENDS };
  for (const [n, ip] of Object.entries(addrs)) {
    await inNs('lb', 'ip', 'link', 'add', `v-${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', `${PREFIX}-${n}`);
    await inNs('lb', 'ip', 'link', 'set', `v-${n}`, 'master', 'br0', 'up');
    await inNs(n, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    await inNs(n, 'ip', 'link', 'set', 'eth0', 'up');
  }
}

/** Sources each backend saw, to prove SNAT. */
const seenSources = new Map<string, Set<string>>();

function serveBackends(): Array<net.Server | dgram.Socket> {
  const servers: Array<net.Server | dgram.Socket> = [];
  for (const [name, ip] of Object.entries(BACKENDS)) {
    seenSources.set(name, new Set());
    for (const port of [TCP_PORT, MESH_PORT]) {
      const fd = openSocketInNetns(nsPath(name), { type: 'tcp', address: ip, port });
      const server = net.createServer((c) => {
        seenSources.get(name)!.add(c.remoteAddress ?? '?');
        c.on('error', () => undefined);
        c.on('data', (d) => {
          for (let i = 0; i < d.toString().split('\n').length - 1; i++) c.write(`${name}\n`);
        });
      });
      server.listen({ fd });
      servers.push(server);
    }
    const ufd = openSocketInNetns(nsPath(name), { type: 'udp', address: ip, port: UDP_PORT });
    const udp = dgram.createSocket('udp4');
    udp.on('message', (_m, rinfo) => udp.send(`${name}\n`, rinfo.port, rinfo.address));
    udp.bind({ fd: ufd });
    servers.push(udp);
  }
  return servers;
}

class Client {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private waiting: Array<(line: string) => void> = [];

  constructor(ns: string) {
    this.child = spawn('nsenter', [`--net=${nsPath(ns)}`, process.execPath, CLIENT_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.child.stderr.on('data', (d: Buffer) => log(`client: ${d.toString().trim()}`));
  }

  call<T>(cmd: Record<string, unknown>): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(JSON.parse(line) as T));
      this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  async names(op: 'tcp' | 'udp', host: string, port: number, n: number): Promise<string[]> {
    return (await this.call<{ names: string[] }>({ op, host, port, n })).names;
  }

  close(): void {
    this.child.stdin.end();
  }
}

function tally(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

function spec(services: LbService[]): LoadBalancerSpec {
  return { netnsPath: nsPath('lb'), sourceAddress: SOURCE, subnet: SUBNET, services };
}

const web = (b1: number, b2: number | undefined): LbService => ({
  key: 'svc-web',
  vip: VIP,
  ports: [],
  backends: [{ ip: BACKENDS.b1, weight: b1 }, ...(b2 === undefined ? [] : [{ ip: BACKENDS.b2, weight: b2 }])],
});
const mesh: LbService = { key: 'svc-web/ingress', ports: [{ protocol: 'tcp', port: MESH_PORT }], backends: [{ ip: BACKENDS.b1, weight: 1 }, { ip: BACKENDS.b2, weight: 1 }] };
const empty: LbService = { key: 'svc-empty', vip: VIP2, ports: [], backends: [{ ip: BACKENDS.b1, weight: 0 }] };

async function tableHandle(): Promise<string> {
  const out = await inNs('lb', 'nft', '-a', 'list', 'table', 'ip', 'berth-vip').catch(() => '');
  return /# handle (\d+)/.exec(out)?.[1] ?? 'none';
}

async function ipvsList(): Promise<string> {
  return inNs('lb', 'ipvsadm', '-Ln');
}

function marksIn(ipvsadmList: string): number[] {
  return [...ipvsadmList.matchAll(/FWM\s+(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

function berthMarks(ipvsadmList: string): number[] {
  return marksIn(ipvsadmList).filter(isBerthMark);
}

async function ownChecks(): Promise<void> {
  results.hostNamespaceAvailable = await ipvsAvailable();
  await topology();
  results.available = await ipvsAvailable(nsPath('lb'));
  const servers = serveBackends();
  const client = new Client('c');
  await inNs('lb', 'ipvsadm', '-A', '-f', String(FOREIGN_MARK), '-s', 'rr');

  let lb: VipBackend = new IpvsBackend();
  const full = () => spec([web(1, 1), mesh, empty]);
  let t = Date.now();
  await lb.apply(full());
  counts.firstApplyMs = Date.now() - t;
  const first = await ipvsList();
  log(first);

  const vipNames = await client.names('tcp', VIP, TCP_PORT, 10);
  counts.vipEqual = tally(vipNames);
  results.balancedEqual = vipNames.filter((n) => n === 'b1').length === 5 && vipNames.filter((n) => n === 'b2').length === 5;
  results.snatSource = [...seenSources.values()].every((s) => s.size === 1 && s.has(SOURCE));
  counts.seenSources = Object.fromEntries([...seenSources].map(([k, v]) => [k, [...v]]));

  const meshNames = await client.names('tcp', SOURCE, MESH_PORT, 6);
  counts.mesh = tally(meshNames);
  results.routingMesh = meshNames.filter((n) => n === 'b1').length === 3 && meshNames.filter((n) => n === 'b2').length === 3;

  const udpNames = await client.names('udp', VIP, UDP_PORT, 6);
  counts.udp = tally(udpNames);
  results.udp = udpNames.filter((n) => n === 'b1').length === 3 && udpNames.filter((n) => n === 'b2').length === 3;

  const refused = await client.names('tcp', VIP2, TCP_PORT, 1);
  counts.noBackend = refused;
  results.rejectsWithoutBackends = refused[0] === '!ECONNREFUSED';

  const handle = await tableHandle();
  t = Date.now();
  await lb.apply(spec([web(2, 1), mesh, empty]));
  counts.weightApplyMs = Date.now() - t;
  results.backendChangeKeepsTable = (await tableHandle()) === handle;
  const weighted = await client.names('tcp', VIP, TCP_PORT, 12);
  counts.weighted21 = tally(weighted);
  results.balancedByWeight = weighted.filter((n) => n === 'b1').length === 8 && weighted.filter((n) => n === 'b2').length === 4;

  await lb.apply(spec([web(2, 1), mesh, empty]));
  results.idempotent = (await tableHandle()) === handle;

  // Draining: a kept connection to b2 keeps flowing at weight 0; new ones all go to b1.
  await lb.apply(spec([web(1, 1), mesh, empty]));
  let keptId = '';
  for (let i = 0; i < 4 && !keptId; i++) {
    const r = await client.call<{ name: string }>({ op: 'open', id: `k${i}`, host: VIP, port: TCP_PORT });
    if (r.name === 'b2') keptId = `k${i}`;
  }
  await lb.apply(spec([web(1, 0), mesh, empty]));
  const drained = await client.names('tcp', VIP, TCP_PORT, 6);
  counts.drained = tally(drained);
  const keptAfterDrain = await client.call<{ name?: string; error?: string }>({ op: 'ping', id: keptId });
  results.drainNoNewConnections = drained.every((n) => n === 'b1');
  results.drainKeepsEstablished = keptId !== '' && keptAfterDrain.name === 'b2';

  // Restart: a new backend object recovers the marks from its nftables table; nothing renumbers
  // and the kept connection survives.
  await lb.close();
  lb = new IpvsBackend();
  await lb.apply(spec([web(1, 0), mesh, empty]));
  const afterRestart = await ipvsList();
  counts.marks = berthMarks(afterRestart);
  results.restartKeepsMarks = berthMarks(afterRestart).join() === berthMarks(first).join() && berthMarks(first).length === 3;
  results.restartKeepsEstablished = (await client.call<{ name?: string }>({ op: 'ping', id: keptId })).name === 'b2';

  // Validation: nothing changes.
  const before = await ipvsList();
  try {
    await lb.apply(spec([web(1, 1), { ...mesh, backends: [{ ip: BACKENDS.b1, weight: 70_000 }] }]));
    results.validationRejects = false;
  } catch (err) {
    results.validationRejects = err instanceof NetdValidationError && (await ipvsList()) === before;
  }

  // Removal of a backend: new connections avoid it; IPVS drops its established ones (expire_nodest_conn).
  await lb.apply(spec([web(1, undefined), mesh, empty]));
  const removed = await client.names('tcp', VIP, TCP_PORT, 4);
  counts.afterRemoval = tally(removed);
  results.removedBackendGetsNothing = removed.every((n) => n === 'b1');
  const keptAfterRemoval = await client.call<{ name?: string; error?: string }>({ op: 'ping', id: keptId });
  counts.keptAfterRemoval = keptAfterRemoval;
  results.removedBackendDropsEstablished = keptAfterRemoval.name === undefined;

  // A removed service goes (dests first); its published port is no longer balanced.
  await lb.apply(spec([web(1, undefined), empty]));
  const meshAfter = await client.names('tcp', SOURCE, MESH_PORT, 1);
  counts.meshAfterRemoval = meshAfter;
  results.serviceRemoved = berthMarks(await ipvsList()).length === 2 && meshAfter[0]!.startsWith('!');

  const cfg = await inNs('lb', 'ipvsadm', '-L', '--timeout');
  counts.timeouts = cfg.trim();
  results.timeouts = /86400\s+120\s+300/.test(cfg);
  const sysctls = await inNs('lb', 'sysctl', '-n', 'net.ipv4.vs.conntrack', 'net.ipv4.vs.conn_reuse_mode', 'net.ipv4.vs.expire_nodest_conn', 'net.ipv4.vs.expire_quiescent_template', 'net.ipv4.ip_forward');
  results.sysctls = sysctls.split('\n').filter(Boolean).join(',') === '1,0,1,1,1';

  // Bulk: many services and backends in one apply (several datagrams), then all gone in one.
  const bulk: LbService[] = Array.from({ length: BULK_SERVICES }, (_, i) => ({
    key: `bulk-${i}`,
    vip: `10.78.${i >> 8}.${i & 255}`,
    ports: [],
    backends: Array.from({ length: BULK_BACKENDS }, (_, j) => ({ ip: `10.77.0.${150 + j}`, weight: 1 })),
  }));
  t = Date.now();
  await lb.apply(spec([web(1, undefined), empty, ...bulk]));
  counts.bulkApplyMs = Date.now() - t;
  const bulkList = await ipvsList();
  const bulkDests = (bulkList.match(/10\.77\.0\.15\d:0/g) ?? []).length;
  t = Date.now();
  await lb.apply(spec([web(1, undefined), empty]));
  counts.bulkRemoveMs = Date.now() - t;
  results.bulk = berthMarks(bulkList).length === BULK_SERVICES + 2 && bulkDests === BULK_SERVICES * BULK_BACKENDS && berthMarks(await ipvsList()).length === 2;

  const status = lb.status();
  counts.status = status;
  results.status = status.kind === 'ipvs' && status.namespaces === 1 && status.services === 2 && status.backends === 2;

  await lb.remove(nsPath('lb'));
  const left = await ipvsList();
  results.removeLeavesForeign = marksIn(left).includes(FOREIGN_MARK) && berthMarks(left).length === 0 && (await tableHandle()) === 'none';
  await lb.remove(nsPath('lb'));
  results.removeIdempotent = true;
  await lb.close();
  client.close();
  for (const s of servers) s.close();
}

async function scenarios(): Promise<void> {
  const backend = new IpvsBackend();
  try {
    const r = await runVipScenarios(backend, (m) => log(`scenario: ${m}`));
    for (const [k, v] of Object.entries(r)) results[`scenario.${k}`] = v;
  } finally {
    await backend.close();
  }
}

async function cleanup(): Promise<void> {
  for (const n of ['lb', 'c', 'b1', 'b2']) await sh('ip', 'netns', 'del', `${PREFIX}-${n}`).catch(() => undefined);
}

async function main(): Promise<void> {
  try {
    await ownChecks();
  } catch (err) {
    results.ownChecksError = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  await cleanup();
  log(`own checks done: ${JSON.stringify(counts)}`);
  try {
    await scenarios();
  } catch (err) {
    results.scenariosError = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
}

main()
  .catch((err: unknown) => {
    results.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  })
  .finally(() => {
    results.counts = counts;
    results.elapsedMs = Date.now() - t0;
    process.stdout.write(`${JSON.stringify(results)}\n`);
    const ok = Object.entries(results).every(([k, v]) => k === 'counts' || k === 'elapsedMs' || k === 'hostNamespaceAvailable' || v === true);
    process.exit(ok ? 0 : 1);
  });
