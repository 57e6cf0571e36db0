// Runs inside a VM guest (Debian's kernel): the overlay data plane's core checks, batched into one
// boot. Prints one JSON line of named results; exits 0 only when every check passed.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { OverlayDataPlane } from '../../../netd/overlay/index.js';
import { overlayNetnsName } from '../../../netd/overlay/naming.js';
import type { Endpoint, OverlayNetworkSpec } from '../../../netd/types.js';
import { createHosts } from '../../../scripts/lib/hosts.js';

const exec = promisify(execFile);
const NETNS_DIR = '/var/run/netns';
const NET_A: OverlayNetworkSpec = { id: 'vmneta000000000001', vni: 4101, subnet: '10.40.0.0/16', gateway: '10.40.0.1' };
const NET_B: OverlayNetworkSpec = { id: 'vmnetb000000000002', vni: 4102, subnet: '10.41.0.0/24', gateway: '10.41.0.1' };
const BULK = 500;
const RESTART_PINGS = 200;

const results: Record<string, unknown> = {};

async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await exec(cmd, args, { encoding: 'utf8' })).stdout;
}

async function inNs(ns: string, ...argv: string[]): Promise<string> {
  return sh('nsenter', `--net=${NETNS_DIR}/${ns}`, ...argv);
}

async function received(ns: string, to: string, count = 2): Promise<number> {
  try {
    return Number(/(\d+) received/.exec(await inNs(ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', to))?.[1] ?? 0);
  } catch (err) {
    return Number(/(\d+) received/.exec(String(err))?.[1] ?? 0);
  }
}

async function main(): Promise<void> {
  const underlay = await createHosts(3);
  const hosts = underlay.hosts;
  const open = (i: number) => OverlayDataPlane.open({ advertiseAddress: hosts[i]!.address, hostNetns: hosts[i]!.netnsPath, netnsDir: NETNS_DIR, namePrefix: `${hosts[i]!.name}-` });
  const planes = [await open(0), await open(1), await open(2)];
  const sbs = new Map<string, string>();
  const all: Array<{ plane: number; task: string; nets: Array<[OverlayNetworkSpec, string]> }> = [
    { plane: 0, task: 's0a', nets: [[NET_A, '10.40.0.10']] },
    { plane: 0, task: 's0ab', nets: [[NET_A, '10.40.0.11'], [NET_B, '10.41.0.11']] },
    { plane: 1, task: 's1a', nets: [[NET_A, '10.40.0.20']] },
    { plane: 1, task: 's1b', nets: [[NET_B, '10.41.0.20']] },
    { plane: 2, task: 's2b', nets: [[NET_B, '10.41.0.30']] },
  ];
  const endpoints: Endpoint[] = [];
  for (const s of all) {
    const ns = `${underlay.id}-${s.task}`;
    await sh('ip', 'netns', 'add', ns);
    sbs.set(s.task, ns);
    await planes[s.plane]!.attachSandbox(s.task, `${NETNS_DIR}/${ns}`, s.nets.map(([network, ip]) => ({ networkId: network.id, network, addresses: [ip] })));
    for (const [network, ip] of s.nets) endpoints.push({ network: network.id, ip, vtep: hosts[s.plane]!.address });
  }
  await Promise.all(planes.map((p) => p.applyEndpoints(endpoints)));

  results.sameNetworkA = (await received(sbs.get('s0a')!, '10.40.0.20')) === 2;
  results.sameNetworkB = (await received(sbs.get('s1b')!, '10.41.0.30')) === 2;
  results.isolated = (await received(sbs.get('s0a')!, '10.41.0.20', 1)) === 0 && (await received(sbs.get('s2b')!, '10.40.0.20', 1)) === 0;
  results.twoNetworks = (await received(sbs.get('s0ab')!, '10.40.0.20')) === 2 && (await received(sbs.get('s0ab')!, '10.41.0.30')) === 2;
  results.ifnames = /eth0\s+inet 10\.40\.0\.11\/16[\s\S]*eth1\s+inet 10\.41\.0\.11\/24/.test(await inNs(sbs.get('s0ab')!, 'ip', '-o', '-4', 'addr', 'show'));

  const dump = sh('nsenter', `--net=${hosts[1]!.netnsPath}`, 'timeout', '10', 'tcpdump', '-l', '-nn', '-i', 'eth0', '-c', '2', 'udp', 'port', '4789');
  await new Promise((r) => setTimeout(r, 1_000));
  await received(sbs.get('s0a')!, '10.40.0.20', 2);
  results.tcpdumpVni = new RegExp(`VXLAN, flags \\[I\\] \\(0x08\\), vni ${NET_A.vni}`).test(await dump.catch((e: unknown) => String(e)));

  const gone = endpoints.find((e) => e.ip === '10.41.0.30')!;
  await Promise.all([planes[0]!.removeRemoteEndpoint(gone), planes[1]!.removeRemoteEndpoint(gone)]);
  const nsB0 = overlayNetnsName(`${hosts[0]!.name}-`, NET_B.id);
  results.endpointRemoved = !(await inNs(nsB0, 'ip', 'neigh', 'show', 'dev', 'vxlan0')).includes('10.41.0.30') && (await received(sbs.get('s1b')!, '10.41.0.30', 1)) === 0;
  await Promise.all([planes[0]!.addRemoteEndpoint(gone), planes[1]!.addRemoteEndpoint(gone)]);

  const nsA0 = overlayNetnsName(`${hosts[0]!.name}-`, NET_A.id);
  const count = async () => (await inNs(nsA0, 'ip', 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent')).trim().split('\n').length + (await inNs(nsA0, 'bridge', 'fdb', 'show', 'dev', 'vxlan0')).split('\n').filter((l) => l.includes(' self')).length;
  const before = await count();
  const bulk = Array.from({ length: BULK }, (_, i) => ({ network: NET_A.id, ip: `10.40.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`, vtep: '10.77.0.200' }));
  const t0 = Date.now();
  await planes[0]!.applyEndpoints(bulk);
  results.bulkAddMs = Date.now() - t0;
  const during = await count();
  await planes[0]!.applyEndpoints([], bulk);
  results.bulkLeavesNothing = during === before + 2 * BULK && (await count()) === before;

  // Restart: the programming side goes away while pings flow; a new one with the same desired
  // state reconciles and removes what was added behind its back.
  const pings = inNs(sbs.get('s0a')!, 'ping', '-q', '-c', String(RESTART_PINGS), '-i', '0.01', '-W', '1', '10.40.0.20');
  await planes[0]!.close();
  await inNs(nsA0, 'ip', 'neigh', 'add', '10.40.9.9', 'lladdr', '02:42:0a:28:09:09', 'dev', 'vxlan0', 'nud', 'permanent');
  const restarted = await open(0);
  await restarted.applyEndpoints(endpoints);
  for (const s of all.filter((x) => x.plane === 0)) {
    await restarted.attachSandbox(s.task, `${NETNS_DIR}/${sbs.get(s.task)!}`, s.nets.map(([network, ip]) => ({ networkId: network.id, network, addresses: [ip] })));
  }
  const report = await restarted.reconcile();
  const out = await pings.catch((e: unknown) => String(e));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  results.restartNoLoss = m !== null && m[1] === m[2];
  results.restartCleaned = report.neighboursRemoved === 1 && report.sandboxesRepaired === 0 && !(await inNs(nsA0, 'ip', 'neigh')).includes('10.40.9.9');
  results.report = report;

  for (const p of [restarted, planes[1]!, planes[2]!]) await p.close();
  await underlay.destroy();
  for (const n of readdirSync(NETNS_DIR).filter((x) => x.startsWith(underlay.id))) await sh('ip', 'netns', 'del', n).catch(() => undefined);
}

main()
  .catch((err: unknown) => {
    results.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  })
  .finally(() => {
    process.stdout.write(`${JSON.stringify(results)}\n`);
    const ok = results.error === undefined && Object.values(results).every((v) => v !== false);
    process.exit(ok ? 0 : 1);
  });
