// The one scenario file every VipBackend runs (nftables on this host in vip.test.ts, IPVS in a
// qemu guest): the behaviour netd/vip/types.ts promises, end to end over berth's own overlay.
// Three namespace hosts, one overlay network; the client sandbox and the load balancer (the
// network's namespace, set up by OverlayDataPlane.setLoadBalancer) on host 0, backends on
// hosts 1 and 2. Backends are served from this process (sockets opened in their namespaces);
// clients are `node` children inside the client sandbox. Only node, ip, nsenter and (for the
// leftover check) nft are used, so the file also runs in the guest. Each scenario is a named
// result (true, or why it failed); everything is cleaned up whatever happens.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { openSocketInNetns } from '../../native/index.js';
import { OverlayDataPlane } from '../../netd/overlay/index.js';
import type { Endpoint, OverlayNetworkSpec } from '../../netd/types.js';
import type { LbBackend, LbService, LoadBalancerSpec, VipBackend } from '../../netd/vip/types.js';
import { run, sleep } from '../../scripts/lib/exec.js';
import { createHosts, createNetns, type Underlay } from '../../scripts/lib/hosts.js';

const NETNS_DIR = '/var/run/netns';
const NET: OverlayNetworkSpec = { id: 'vipnet00000000000001', name: 'vipnet', vni: 4301, subnet: '10.44.0.0/24', gateway: '10.44.0.1' };
const PREFIX_LEN = 24;
const SOURCE = '10.44.0.2';
const VIP_WEB = '10.44.0.100';
const VIP_UDP = '10.44.0.101';
const VIP_EMPTY = '10.44.0.102';
const CLIENT_IP = '10.44.0.10';
/** Backends: name → [host, address]. */
const BACKENDS = { b1: [1, '10.44.0.21'], b2: [2, '10.44.0.22'], b3: [1, '10.44.0.23'] } as const;
type BackendName = keyof typeof BACKENDS;
const TCP_PORT = 7000;
const MESH_PORT = 8080;
const UDP_PORT = 7001;
const CONNECTIONS = 200;
const SHARE_MIN = 0.4;
const SHARE_MAX = 0.6;
/** 3:1 weights: round robin gives exactly 0.75; anything within this is fine. */
const WEIGHT_TOLERANCE = 0.08;
const FEW = 40;
const REFUSE_WITHIN_MS = 1_000;
const READY_MS = 20_000;
const STEP_MS = 15_000;

/** The client, run inside the client sandbox as `node -e CLIENT -- <json>`; plain JS for the guest. */
const CLIENT = String.raw`
const net = require('node:net'); const dgram = require('node:dgram');
const a = JSON.parse(process.argv[process.argv.length - 1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
function first(host, port, ms) {
  return new Promise((resolve) => {
    const t0 = Date.now(); let buf = ''; let done = false;
    const s = net.connect({ host, port });
    const fin = (r) => { if (!done) { done = true; clearTimeout(timer); s.destroy(); resolve({ ...r, ms: Date.now() - t0 }); } };
    const timer = setTimeout(() => fin({ error: 'ETIMEDOUT' }), ms);
    s.setEncoding('utf8');
    s.on('data', (d) => { buf += d; const i = buf.indexOf('\n'); if (i >= 0) fin({ name: buf.slice(0, i) }); });
    s.on('error', (e) => fin({ error: e.code || e.message }));
    s.on('close', () => fin({ error: 'closed' }));
  });
}
async function main() {
  if (a.mode === 'who') {
    const names = {}; const errors = {};
    for (let i = 0; i < a.count; i++) {
      const r = await first(a.host, a.port, a.timeoutMs);
      if (r.name) names[r.name] = (names[r.name] || 0) + 1; else errors[r.error] = (errors[r.error] || 0) + 1;
    }
    out({ names, errors });
  } else if (a.mode === 'refused') {
    out(await first(a.host, a.port, a.timeoutMs));
  } else if (a.mode === 'udp') {
    // A new socket (source port) per request: one UDP flow stays on one backend.
    const names = {}; let got = 0;
    for (let i = 0; i < a.count; i++) {
      const s = dgram.createSocket('udp4'); let answered = false;
      s.on('message', (m) => { if (!answered) { answered = true; const n = String(m); names[n] = (names[n] || 0) + 1; got++; } });
      await new Promise((r) => s.bind(0, r));
      s.send('who ' + i, a.port, a.host);
      const t0 = Date.now(); while (!answered && Date.now() - t0 < a.timeoutMs) await new Promise((r) => setTimeout(r, 5));
      s.close();
    }
    out({ names, lost: a.count - got });
  } else if (a.mode === 'hold') {
    let buf = ''; let named = false;
    const s = net.connect({ host: a.host, port: a.port });
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d; let i;
      while ((i = buf.indexOf('\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); if (!named) { named = true; out({ event: 'connected', name: line }); } else out({ event: 'echo', line }); }
    });
    s.on('error', (e) => out({ event: 'error', error: e.code || e.message }));
    s.on('close', () => { out({ event: 'closed' }); process.exit(0); });
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d) => { for (const l of d.split('\n').filter(Boolean)) s.write(l + '\n'); });
    process.stdin.on('end', () => s.end());
  }
}
main().catch((e) => { out({ fatal: String(e) }); process.exit(1); });
`;

interface Counts {
  names: Record<string, number>;
  errors?: Record<string, number>;
  lost?: number;
}

/** A long-lived connection from the client sandbox, driven line by line. */
class Held {
  private readonly events: Array<Record<string, string>> = [];
  private buf = '';
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(this.buf.slice(0, i)) as Record<string, string>);
        this.buf = this.buf.slice(i + 1);
      }
    });
  }

  static async open(clientNs: string, host: string, port: number): Promise<{ held: Held; name: string }> {
    const child = spawn('nsenter', [`--net=${clientNs}`, process.execPath, '-e', CLIENT, '--', JSON.stringify({ mode: 'hold', host, port })], { stdio: ['pipe', 'pipe', 'pipe'] });
    const held = new Held(child);
    const e = await held.next((ev) => ev.event !== 'echo', STEP_MS);
    if (e.event !== 'connected') {
      held.close();
      throw new Error(`held connection to ${host}:${port} failed: ${JSON.stringify(e)}`);
    }
    return { held, name: e.name! };
  }

  /** Sends a line and waits for its echo; false if the connection broke or stayed silent. */
  async roundTrip(line: string): Promise<boolean> {
    if (this.child.exitCode !== null) return false;
    this.child.stdin.write(`${line}\n`);
    try {
      const e = await this.next((ev) => ev.event !== 'connected', STEP_MS);
      return e.event === 'echo' && e.line === line;
    } catch {
      return false;
    }
  }

  close(): void {
    this.child.kill('SIGKILL');
  }

  private async next(pred: (e: Record<string, string>) => boolean, ms: number): Promise<Record<string, string>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error('no answer from the held connection');
      await sleep(10);
    }
  }
}

interface World {
  underlay: Underlay;
  planes: OverlayDataPlane[];
  sandboxes: Array<{ destroy(): Promise<void> }>;
  servers: Array<{ close(): void }>;
  clientNs: string;
  lbNs: string;
}

function backend(name: BackendName, weight = 1): LbBackend {
  return { ip: BACKENDS[name][1], weight };
}

function spec(w: World, services: LbService[]): LoadBalancerSpec {
  return { netnsPath: w.lbNs, sourceAddress: SOURCE, subnet: NET.subnet, services };
}

function web(backends: LbBackend[]): LbService {
  return { key: 'web', vip: VIP_WEB, ports: [{ protocol: 'tcp', port: MESH_PORT }], backends };
}

function runClient(w: World, args: Record<string, unknown>): Promise<unknown> {
  return run('nsenter', [`--net=${w.clientNs}`, process.execPath, '-e', CLIENT, '--', JSON.stringify(args)], { timeoutMs: 120_000 }).then((r) => JSON.parse(r.stdout.trim().split('\n').pop()!) as unknown);
}

function who(w: World, host: string, port: number, count: number): Promise<Counts> {
  return runClient(w, { mode: 'who', host, port, count, timeoutMs: 3_000 }) as Promise<Counts>;
}

function share(c: Counts, name: BackendName): number {
  const total = Object.values(c.names).reduce((a, n) => a + n, 0);
  return total === 0 ? 0 : (c.names[name] ?? 0) / total;
}

function describe(c: Counts): string {
  return JSON.stringify(c);
}

/** Retries `fn` until it returns true or the deadline passes; the last reason is the result. */
async function eventually(ms: number, fn: () => Promise<true | string>): Promise<true | string> {
  const deadline = Date.now() + ms;
  let last: true | string;
  for (;;) {
    try {
      last = await fn();
    } catch (err) {
      last = (err as Error).message;
    }
    if (last === true || Date.now() > deadline) return last;
    await sleep(200);
  }
}

async function serve(w: World, name: BackendName, netnsPath: string): Promise<void> {
  const ip = BACKENDS[name][1];
  for (const port of [TCP_PORT, MESH_PORT]) {
    const open = new Set<net.Socket>();
    const server = net.createServer((c) => {
      open.add(c);
      c.on('close', () => open.delete(c));
      c.on('error', () => undefined);
      c.write(`${name}\n`);
      c.pipe(c);
    });
    await new Promise<void>((r) => server.listen({ fd: openSocketInNetns(netnsPath, { type: 'tcp', address: ip, port }) }, () => r()));
    w.servers.push({
      close: () => {
        server.close();
        for (const c of open) c.destroy();
      },
    });
  }
  const udp = dgram.createSocket('udp4');
  udp.on('message', (_m, rinfo) => udp.send(name, rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind({ fd: openSocketInNetns(netnsPath, { type: 'udp', address: ip, port: UDP_PORT }) }, () => r()));
  w.servers.push({ close: () => udp.close() });
}

async function build(w: World, log: (msg: string) => void): Promise<void> {
  const hosts = w.underlay.hosts;
  for (const h of hosts) {
    w.planes.push(await OverlayDataPlane.open({ advertiseAddress: h.address, hostNetns: h.netnsPath, netnsDir: NETNS_DIR, namePrefix: `${h.name}-`, gateway: false }));
  }
  const endpoints: Array<{ host: number; ip: string }> = [];
  const client = await createNetns(`${w.underlay.id}c`);
  w.sandboxes.push(client);
  w.clientNs = client.path;
  await w.planes[0]!.attachSandbox('client', client.path, [{ networkId: NET.id, network: NET, addresses: [`${CLIENT_IP}/${PREFIX_LEN}`] }]);
  endpoints.push({ host: 0, ip: CLIENT_IP });
  for (const [name, [host, ip]] of Object.entries(BACKENDS) as Array<[BackendName, (typeof BACKENDS)[BackendName]]>) {
    const sb = await createNetns(`${w.underlay.id}${name}`);
    w.sandboxes.push(sb);
    await w.planes[host]!.attachSandbox(name, sb.path, [{ networkId: NET.id, network: NET, addresses: [`${ip}/${PREFIX_LEN}`] }]);
    endpoints.push({ host, ip });
    await serve(w, name, sb.path);
  }
  w.lbNs = await w.planes[0]!.setLoadBalancer(NET.id, { sourceAddress: SOURCE, vips: [VIP_WEB, VIP_UDP, VIP_EMPTY] });
  endpoints.push({ host: 0, ip: SOURCE });
  for (const [i, plane] of w.planes.entries()) {
    const remote: Endpoint[] = endpoints.filter((e) => e.host !== i).map((e) => ({ network: NET.id, ip: e.ip, vtep: hosts[e.host]!.address }));
    await plane.applyEndpoints(remote);
    await plane.settled();
  }
  log(`topology ready: lb ${w.lbNs}, client ${w.clientNs}`);
}

type Results = Record<string, boolean | string>;

async function scenario(results: Results, name: string, log: (msg: string) => void, fn: () => Promise<true | string>): Promise<void> {
  const t0 = Date.now();
  try {
    results[name] = await fn();
  } catch (err) {
    results[name] = `threw: ${(err as Error).message}`;
  }
  log(`${name}: ${results[name] === true ? 'ok' : String(results[name])} (${Date.now() - t0} ms)`);
}

function balanced(c: Counts, names: BackendName[], count: number): true | string {
  const total = Object.values(c.names).reduce((a, n) => a + n, 0);
  if (total !== count) return `only ${total}/${count} connections answered: ${describe(c)}`;
  for (const n of names) {
    const s = share(c, n);
    if (s < SHARE_MIN || s > SHARE_MAX) return `${n} got ${(s * 100).toFixed(0)} %, not ${SHARE_MIN * 100}–${SHARE_MAX * 100} %: ${describe(c)}`;
  }
  return true;
}

async function nftTables(netnsPath: string): Promise<string> {
  return (await run('nsenter', [`--net=${netnsPath}`, nftBinary(), 'list', 'tables'])).stdout;
}

/** The system's nft (npm puts node_modules/.bin first on PATH, where @vercel/nft's `nft` lives). */
function nftBinary(): string {
  return ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';
}

async function ruleset(netnsPath: string): Promise<string> {
  try {
    return (await run('nsenter', [`--net=${netnsPath}`, nftBinary(), 'list', 'ruleset'])).stdout;
  } catch {
    return '';
  }
}

export async function runVipScenarios(lb: VipBackend, log: (msg: string) => void): Promise<Record<string, boolean | string>> {
  const results: Results = {};
  const w: World = { underlay: await createHosts(3), planes: [], sandboxes: [], servers: [], clientNs: '', lbNs: '' };
  const held: Held[] = [];
  const hold = async (host: string, port: number) => {
    const h = await Held.open(w.clientNs, host, port);
    held.push(h.held);
    return h;
  };
  try {
    await build(w, log);
    const apply = (services: LbService[]) => lb.apply(spec(w, services));
    const udpService: LbService = { key: 'udp', vip: VIP_UDP, ports: [], backends: [backend('b1'), backend('b2')] };
    const emptyService: LbService = { key: 'empty', vip: VIP_EMPTY, ports: [], backends: [backend('b3', 0)] };
    const base = (webBackends: LbBackend[]) => [web(webBackends), udpService, emptyService];
    await apply(base([backend('b1'), backend('b2')]));
    const ready = await eventually(READY_MS, async () => {
      const c = await who(w, VIP_WEB, TCP_PORT, 2);
      return Object.keys(c.names).length > 0 || `no answer through the VIP yet: ${describe(c)}`;
    });
    if (ready !== true) throw new Error(`the VIP never answered: ${ready}`);

    await scenario(results, 'vip balances across two nodes', log, async () => balanced(await who(w, VIP_WEB, TCP_PORT, CONNECTIONS), ['b1', 'b2'], CONNECTIONS));

    await scenario(results, 'every backend answers', log, async () => {
      await apply(base([backend('b1'), backend('b2'), backend('b3')]));
      return eventually(STEP_MS, async () => {
        const c = await who(w, VIP_WEB, TCP_PORT, 30);
        const missing = (['b1', 'b2', 'b3'] as const).filter((n) => !c.names[n]);
        return missing.length === 0 || `${missing.join(', ')} never answered: ${describe(c)}`;
      });
    });

    await scenario(results, 'weights respected (3:1)', log, async () => {
      await apply(base([backend('b1', 3), backend('b2', 1)]));
      const c = await who(w, VIP_WEB, TCP_PORT, CONNECTIONS);
      const s = share(c, 'b1');
      const total = Object.values(c.names).reduce((a, n) => a + n, 0);
      if (total !== CONNECTIONS) return `only ${total}/${CONNECTIONS} answered: ${describe(c)}`;
      return Math.abs(s - 0.75) <= WEIGHT_TOLERANCE || `b1 got ${(s * 100).toFixed(1)} %, expected 75 %: ${describe(c)}`;
    });

    // Two held connections, one per backend (round robin alternates), for the next scenarios.
    await apply(base([backend('b1'), backend('b2')]));
    const holds = new Map<string, Held>();
    for (let i = 0; i < 6 && holds.size < 2; i++) {
      const h = await hold(VIP_WEB, TCP_PORT);
      if (!holds.has(h.name)) holds.set(h.name, h.held);
    }

    await scenario(results, 'draining backend: no new connections, established keeps flowing', log, async () => {
      const h1 = holds.get('b1');
      if (!h1) return `could not hold a connection to b1: ${[...holds.keys()].join(', ')}`;
      await apply(base([backend('b1', 0), backend('b2')]));
      const c = await who(w, VIP_WEB, TCP_PORT, FEW);
      if ((c.names.b1 ?? 0) > 0 || (c.names.b2 ?? 0) !== FEW) return `new connections after draining b1: ${describe(c)}`;
      return (await h1.roundTrip('still there')) || 'the established connection to the draining backend stopped';
    });

    await scenario(results, 'removing a backend keeps established connections to the others', log, async () => {
      const h2 = holds.get('b2');
      if (!h2) return 'could not hold a connection to b2';
      if (!(await h2.roundTrip('before'))) return 'the held connection to b2 was broken before the change';
      await apply(base([backend('b2')]));
      return (await h2.roundTrip('after removing b1')) || 'the connection to b2 broke when b1 was removed';
    });

    await scenario(results, 'removed (unhealthy) backend gets no new connections', log, async () => {
      await apply(base([backend('b1'), backend('b2')]));
      await apply(base([backend('b1')]));
      const c = await who(w, VIP_WEB, TCP_PORT, FEW);
      return ((c.names.b1 ?? 0) === FEW && !c.names.b2) || `expected all ${FEW} on b1: ${describe(c)}`;
    });

    await scenario(results, 'udp through the vip reaches both backends', log, async () => {
      await apply(base([backend('b1'), backend('b2')]));
      return eventually(STEP_MS, async () => {
        const c = (await runClient(w, { mode: 'udp', host: VIP_UDP, port: UDP_PORT, count: 20, timeoutMs: 1_000 })) as Counts;
        return (Boolean(c.names.b1) && Boolean(c.names.b2) && c.lost === 0) || `udp replies: ${describe(c)}`;
      });
    });

    await scenario(results, 'routing-mesh port balances', log, async () => balanced(await who(w, SOURCE, MESH_PORT, 100), ['b1', 'b2'], 100));

    await scenario(results, 'no live backend refuses quickly', log, async () => {
      const r = (await runClient(w, { mode: 'refused', host: VIP_EMPTY, port: TCP_PORT, timeoutMs: 5_000 })) as { name?: string; error?: string; ms: number };
      if (r.name) return `a backend answered: ${r.name}`;
      if (r.error !== 'ECONNREFUSED' && r.error !== 'ECONNRESET') return `failed with ${String(r.error)} after ${r.ms} ms, not refused`;
      return r.ms < REFUSE_WITHIN_MS || `refused only after ${r.ms} ms`;
    });

    await scenario(results, 'apply twice with the same spec changes and resets nothing', log, async () => {
      const services = base([backend('b1'), backend('b2')]);
      const h = await hold(VIP_WEB, TCP_PORT);
      const before = await ruleset(w.lbNs);
      await apply(services);
      await apply(services);
      const after = await ruleset(w.lbNs);
      if (before !== after) return 'the second apply changed the nftables ruleset';
      if (!(await h.held.roundTrip('after reapply'))) return 'the held connection broke';
      return balanced(await who(w, VIP_WEB, TCP_PORT, FEW), ['b1', 'b2'], FEW);
    });

    await scenario(results, 'remove leaves no berth table behind', log, async () => {
      await lb.remove(w.lbNs);
      await lb.remove(w.lbNs);
      const tables = await nftTables(w.lbNs).catch(() => '');
      if (/berth/.test(tables)) return `left behind: ${tables.trim()}`;
      const c = await who(w, VIP_WEB, TCP_PORT, 4);
      return Object.keys(c.names).length === 0 || `the VIP still balances after remove: ${describe(c)}`;
    });
  } catch (err) {
    results.setup = `threw: ${(err as Error).stack ?? String(err)}`;
  } finally {
    for (const h of held) h.close();
    if (w.lbNs) await lb.remove(w.lbNs).catch((e: unknown) => log(`cleanup: remove: ${String(e)}`));
    for (const s of w.servers) s.close();
    for (const p of w.planes) await p.close().catch(() => undefined);
    for (const s of w.sandboxes) await s.destroy().catch(() => undefined);
    await w.underlay.destroy().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    for (const h of w.underlay.hosts) {
      // The planes' network namespaces are pinned under NETNS_DIR with the host's prefix.
      for (const n of readdirSync(NETNS_DIR).filter((x) => x.startsWith(`${h.name}-`))) await run('ip', ['netns', 'del', n]).catch(() => undefined);
    }
  }
  return results;
}
