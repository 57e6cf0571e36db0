// One noisy sandbox must not starve the others' DNS, and one TCP connection must not queue
// without bound: real sandboxes (network namespaces with berth's listeners on 127.0.0.11:53),
// a real upstream in its own namespace behind a veth that answers some names slowly, and the
// forwarder with its default limits.
import test from 'ava';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { EmbeddedDns } from '../../dns/embedded.js';
import { MAX_TCP_PIPELINE } from '../../dns/listener.js';
import { RRType, encodeResponse, parseQuery, type Query } from '../../dns/wire.js';
import { openSocketInNetnsAsync } from '../../native/index.js';
import { encodeQuery, rcodeOf } from '../harness/dns-query.js';
import { isNativeAddonBuilt } from '../harness/native-build.js';
import { createNetns } from '../../scripts/lib/hosts.js';
import { Cleanup, requireRoot, run, runQuiet, uniqueName, waitFor } from '../../scripts/lib/exec.js';

const UPSTREAM_A = [192, 0, 2, 1];
/** `*.slow.example.test`: the noisy sandbox's names, each held this long by the upstream. */
const SLOW_MS = 1500;
/** `*.pipe.example.test`: long enough that a pipeline's queries overlap at the upstream. */
const PIPE_MS = 100;
const FLOOD_BURST = 3000;
const FLOOD_EVERY_MS = 100;
const FLOOD_MORE = 300;
/** In flight before the quiet sandbox starts asking: the noisy one holds at least this much. */
const SATURATED_IN_FLIGHT = 100;
const PROBES = 30;
/**
 * Normal latency here is ~1 ms; 1.0–1.3 s was seen at load 30 on 2 cores. Without a fair share
 * a quiet query waits behind the thousands the noisy sandbox queued, each slot freed only after
 * SLOW_MS: many seconds, or dropped with the queue full.
 */
const PROBE_BOUND_MS = 2500;
const PIPELINED = 400;
const CLIENT_TIMEOUT_MS = 60_000;
const NET = 'net-fair';

interface Sandbox {
  id: string;
  path: string;
}

interface Upstream {
  address: string;
  /** Pipelined queries being held by the upstream now, and the most at once. */
  pipe: { now: number; peak: number; seen: number };
}

interface Ctx {
  cleanup: Cleanup;
  dns: EmbeddedDns;
  upstream: Upstream;
  noisy: Sandbox;
  quiet: Sandbox;
  piped: Sandbox;
}

let ctx: Ctx;

function delayFor(name: string): number {
  if (name.endsWith('.slow.example.test')) return SLOW_MS;
  if (name.endsWith('.pipe.example.test')) return PIPE_MS;
  return 0;
}

/** Answers every *.example.test name with 192.0.2.1, after delayFor(name); over UDP and TCP. */
async function startUpstream(cleanup: Cleanup): Promise<Upstream> {
  const name = uniqueName('bfu');
  const vethHost = uniqueName('vf');
  const octet = randomInt(10, 250);
  const hostAddr = `10.253.${octet}.1`;
  const upAddr = `10.253.${octet}.2`;
  await run('ip', ['netns', 'add', name]);
  cleanup.add(`ip netns del ${name}`, () => runQuiet('ip', ['netns', 'del', name]));
  await run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
  cleanup.add(`ip link del ${vethHost}`, () => runQuiet('ip', ['link', 'del', vethHost]));
  await run('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', vethHost]);
  await run('ip', ['link', 'set', vethHost, 'up']);
  await run('ip', ['-n', name, 'addr', 'add', `${upAddr}/30`, 'dev', 'eth0']);
  await run('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const path = `/var/run/netns/${name}`;
  const self: Upstream = { address: upAddr, pipe: { now: 0, peak: 0, seen: 0 } };
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  };
  const answer = (msg: Buffer, q: Query) => encodeResponse(msg, q, { rcode: 0, authoritative: true, answers: [{ type: RRType.A, ttl: 60, address: Uint8Array.from(UPSTREAM_A) }], maxSize: 512 });
  const udp = dgram.createSocket('udp4');
  const udpFd = await openSocketInNetnsAsync(path, { type: 'udp', address: upAddr, port: 53 });
  await new Promise<void>((resolve) => udp.bind({ fd: udpFd }, resolve));
  udp.setRecvBufferSize(1 << 20);
  udp.on('message', (m, r) => {
    const q = parseQuery(m);
    if (typeof q === 'string') return;
    later(delayFor(q.name), () => udp.send(answer(m, q), r.port, r.address));
  });
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => undefined);
    c.once('data', (d: Buffer) => {
      const m = d.subarray(2, 2 + d.readUInt16BE(0));
      const q = parseQuery(m);
      if (typeof q === 'string') return c.destroy();
      const piped = q.name.endsWith('.pipe.example.test');
      if (piped) {
        self.pipe.seen++;
        self.pipe.peak = Math.max(self.pipe.peak, ++self.pipe.now);
      }
      later(delayFor(q.name), () => {
        if (piped) self.pipe.now--;
        const reply = answer(m, q);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        c.end(Buffer.concat([len, reply]));
      });
    });
  });
  const tcpFd = await openSocketInNetnsAsync(path, { type: 'tcp', address: upAddr, port: 53 });
  await new Promise<void>((resolve) => tcp.listen({ fd: tcpFd }, resolve));
  cleanup.add('close upstream', () => {
    closed = true;
    for (const t of timers) clearTimeout(t);
    for (const c of conns) c.destroy();
    udp.close();
    tcp.close();
  });
  return self;
}

async function sandbox(cleanup: Cleanup, dns: EmbeddedDns, id: string): Promise<Sandbox> {
  const ns = await createNetns('bfs');
  cleanup.add(`delete ${ns.name}`, () => ns.destroy());
  await dns.openSandbox(id, ns.path, [NET]);
  cleanup.add(`close sandbox ${id}`, () => dns.closeSandbox(id));
  return { id, path: ns.path };
}

/** A UDP socket bound inside the sandbox, for asking its 127.0.0.11:53 from this process. */
async function clientSocket(cleanup: Cleanup, sb: Sandbox): Promise<dgram.Socket> {
  const fd = await openSocketInNetnsAsync(sb.path, { type: 'udp', address: '127.0.0.1', port: 0 });
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ fd }, resolve));
  s.on('error', () => undefined);
  cleanup.add(`close client in ${sb.id}`, () => s.close());
  return s;
}

test.before(async () => {
  requireRoot('dns fair-share tests');
  if (!isNativeAddonBuilt()) throw new Error('native addon not built: run `npm run build:native` first');
  const cleanup = new Cleanup();
  const upstream = await startUpstream(cleanup);
  // The forwarder's default limits: the ones agentd runs with.
  const dns = await EmbeddedDns.create({ upstreams: [{ address: upstream.address, port: 53 }] });
  cleanup.add('close dns', () => dns.close());
  dns.records.setNetwork({ id: NET, name: 'fair' });
  dns.records.setTask(
    { id: 't1', serviceId: 's1', name: 'web.1.t1', healthy: true, networks: [{ networkId: NET, addresses: ['10.50.0.11'] }] },
    { id: 's1', name: 'web', endpointMode: 'vip', networks: [{ networkId: NET, vips: ['10.50.0.2'] }] },
  );
  const noisy = await sandbox(cleanup, dns, 'sb-noisy');
  const quiet = await sandbox(cleanup, dns, 'sb-quiet');
  const piped = await sandbox(cleanup, dns, 'sb-piped');
  ctx = { cleanup, dns, upstream, noisy, quiet, piped };
});

test.after.always(async () => {
  await ctx?.cleanup.run();
});

interface Probe {
  ms: number;
  rcode: number | undefined;
  address: number[] | undefined;
}

/** One query from the socket's sandbox; its reply (matched by id) or a timeout after boundMs. */
function ask(s: dgram.Socket, id: number, name: string, boundMs: number): Promise<Probe> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve({ ms: performance.now() - t0, rcode: reply && rcodeOf(reply), address: reply && reply.length >= 4 ? [...reply.subarray(reply.length - 4)] : undefined });
    };
    const onMessage = (m: Buffer) => {
      if (m.length >= 2 && m.readUInt16BE(0) === id) done(m);
    };
    const timer = setTimeout(() => done(undefined), boundMs);
    s.on('message', onMessage);
    s.send(encodeQuery(id, name, RRType.A), 53, '127.0.0.11');
  });
}

test.serial('a sandbox flooding a slow upstream saturates only itself: another sandbox is answered within normal latency', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const flood = await clientSocket(cleanup, ctx.noisy);
  let sent = 0;
  const floodSome = (n: number) => {
    for (let i = 0; i < n; i++, sent++) flood.send(encodeQuery(sent & 0xffff, `n${sent}.slow.example.test`, RRType.A), 53, '127.0.0.11');
  };
  floodSome(FLOOD_BURST);
  const pacer = setInterval(() => floodSome(FLOOD_MORE), FLOOD_EVERY_MS);
  cleanup.add('stop the flood', () => clearInterval(pacer));
  await waitFor('the noisy sandbox to fill its forwarding', async () => ctx.dns.stats().forwarder.inFlight >= SATURATED_IN_FLIGHT, 20_000);

  const probe = await clientSocket(cleanup, ctx.quiet);
  const probes: Probe[] = [];
  for (let i = 0; i < PROBES; i++) probes.push(await ask(probe, 0x4000 + i, `q${i}.example.test`, PROBE_BOUND_MS));
  clearInterval(pacer);

  const ms = probes.map((p) => p.ms).sort((a, b) => a - b);
  const f = ctx.dns.stats().forwarder;
  t.log(`noisy sent ${sent}; quiet: median ${ms[ms.length >> 1]!.toFixed(1)} ms, max ${ms.at(-1)!.toFixed(1)} ms; forwarder: ${JSON.stringify(f)}`);
  const bad = probes.map((p, i) => ({ i, ...p })).filter((p) => p.rcode !== 0 || p.address?.join('.') !== UPSTREAM_A.join('.'));
  t.deepEqual(bad, [], 'every query of the quiet sandbox answered NOERROR with the upstream address within the bound');
  t.true(f.overShare > 0, 'the noisy sandbox was held to its own share');
});

for (const halfClose of [false, true]) {
  const how = halfClose ? ', the client half-closing after its last query' : '';
  test.serial(`TCP: ${PIPELINED} pipelined queries on one connection are all answered, at most ${MAX_TCP_PIPELINE} outstanding at once${how}`, async (t) => {
    // The flood of the test before may still hold the noisy sandbox's share; it is not this test's.
    await waitFor('the forwarder to be idle', async () => ctx.dns.stats().forwarder.inFlight === 0, 30_000);
    const pipeBefore = { ...ctx.upstream.pipe };
    const pausedBefore = ctx.dns.stats().listeners.tcpReadsPaused;
    // A client inside the sandbox: one write with every query (ids 1..N; every fourth a local
    // name), then read until each id has its reply.
    const client = String.raw`
const net = require('node:net');
const n = Number(process.argv.at(-2));
const halfClose = process.argv.at(-1) === 'half-close';
function query(id, name) {
  const parts = [Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of name.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  const m = Buffer.concat(parts);
  const len = Buffer.alloc(2); len.writeUInt16BE(m.length);
  return Buffer.concat([len, m]);
}
const all = [];
for (let id = 1; id <= n; id++) all.push(query(id, id % 4 === 0 ? 'web' : 'p' + id + '.pipe.example.test'));
const rcodes = {};
let buf = Buffer.alloc(0);
const c = net.connect({ port: 53, host: '127.0.0.11', allowHalfOpen: true }, () => (halfClose ? c.end(Buffer.concat(all)) : c.write(Buffer.concat(all))));
c.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
    const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
    rcodes[m.readUInt16BE(0)] = m[3] & 15;
    buf = buf.subarray(2 + buf.readUInt16BE(0));
  }
  if (Object.keys(rcodes).length === n) { process.stdout.write(JSON.stringify(rcodes)); c.destroy(); }
});
c.on('error', (e) => { process.stdout.write(JSON.stringify(rcodes)); process.stderr.write(e.message); process.exit(1); });
c.on('close', () => { process.stdout.write(JSON.stringify(rcodes)); });
`;
    const child = spawn('nsenter', [`--net=${ctx.piped.path}`, process.execPath, '-e', client, String(PIPELINED), halfClose ? 'half-close' : 'open'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
    await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(killer);
    const rcodes = JSON.parse(out.slice(0, out.indexOf('}') + 1) || '{}') as Record<string, number>;
    const answered = Object.keys(rcodes).length;
    const notNoerror = Object.entries(rcodes).filter(([, rc]) => rc !== 0);
    const forwarded = ctx.upstream.pipe.seen - pipeBefore.seen;
    const tcp = ctx.dns.stats().listeners;
    t.log(`answered ${answered}/${PIPELINED}; upstream held at most ${ctx.upstream.pipe.peak} pipelined queries at once (${forwarded} forwarded); listeners ${JSON.stringify(tcp)}`);
    t.is(answered, PIPELINED, 'every query answered');
    t.deepEqual(notNoerror, []);
    t.is(forwarded, (PIPELINED * 3) / 4, 'every forwarded query reached the upstream once');
    t.true(ctx.upstream.pipe.peak <= MAX_TCP_PIPELINE, `${ctx.upstream.pipe.peak} queries of one connection outstanding at the upstream at once`);
    t.true(tcp.tcpPipelinePeak <= MAX_TCP_PIPELINE && tcp.tcpPipelinePeak > 0, `server's outstanding peak ${tcp.tcpPipelinePeak}`);
    t.true(tcp.tcpReadsPaused > pausedBefore, 'reads were paused at the cap');
  });
}
