// openSocketInNetns against real network namespaces: sockets opened inside a fresh netns are
// served from this process and queried with dig from inside that netns; the static pause
// program is exercised as a plain child and as PID 1 of a new PID namespace.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import net from 'node:net';
import {
  NativeError,
  NetnsSocketError,
  openSocketInNetns,
  openSocketInNetnsAsync,
  type NetnsSocketOptions,
  releaseFreeMemory,
  tuneMalloc,
} from '../../native/index.js';
import { isNativeAddonBuilt, pauseBinaryPath } from '../harness/native-build.js';
import { Cleanup, requireCommand, requireRoot, run, runQuiet, uniqueName, waitFor } from '../../scripts/lib/exec.js';

const NETNS_DIR = '/var/run/netns';
const DNS_ADDRESS = '127.0.0.11';
const DNS_PORT = 53;
const QUERY_NAME = 'some.name';
const ANSWER_V4 = '10.1.2.3';
const DIG_TIMEOUT_ARGS = ['+time=2', '+tries=1'];
const DIG_EXIT_NO_REPLY = 9;
const ABSENT_ADDRESS = '10.255.255.1';
const PARALLEL_CALLS = 16;
const PAUSE_READY_MS = 5_000;
const PAUSE_EXIT_MS = 2_000;
const SIGINT_BIT = 1n << 1n;
const SIGTERM_BIT = 1n << 14n;
const SIGCHLD_BIT = 1n << 16n;

test.before(() => {
  requireRoot('netns-socket tests');
  requireCommand('ip', 'iproute2');
  requireCommand('dig', 'dnsutils');
  requireCommand('unshare', 'util-linux');
  if (!isNativeAddonBuilt()) throw new Error('native addon not built: run `npm run build:native` first');
  pauseBinaryPath();
});

function withCleanup(t: ExecutionContext): Cleanup {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  return cleanup;
}

/** A fresh netns with lo up; 127.0.0.0/8 (so 127.0.0.11) and ::1 come with lo. */
async function makeNetns(cleanup: Cleanup): Promise<{ name: string; path: string }> {
  const name = uniqueName('bns');
  await run('ip', ['netns', 'add', name]);
  cleanup.add(`ip netns del ${name}`, () => runQuiet('ip', ['netns', 'del', name]));
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `${NETNS_DIR}/${name}` };
}

// ---- a DNS responder just big enough for dig: one A answer for QUERY_NAME ----

function questionEnd(msg: Buffer): number {
  let off = 12;
  while (msg[off] !== 0) off += 1 + (msg[off] ?? 0);
  return off + 1 + 4;
}

function questionName(msg: Buffer): string {
  const labels: string[] = [];
  for (let off = 12; msg[off] !== 0; off += 1 + (msg[off] ?? 0)) {
    labels.push(msg.subarray(off + 1, off + 1 + (msg[off] ?? 0)).toString('latin1'));
  }
  return labels.join('.');
}

/** Answers with ANSWER_V4 for QUERY_NAME, NXDOMAIN otherwise; additional records are dropped. */
function answer(query: Buffer): Buffer {
  const known = questionName(query).toLowerCase() === QUERY_NAME;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | (known ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(known ? 1 : 0, 6);
  const question = query.subarray(12, questionEnd(query));
  if (!known) return Buffer.concat([header, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(4, 10);
  ANSWER_V4.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
  return Buffer.concat([header, question, rr]);
}

async function serveUdp(cleanup: Cleanup, fd: number, type: 'udp4' | 'udp6'): Promise<dgram.Socket> {
  const sock = dgram.createSocket(type);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ fd }, () => resolve());
    });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  cleanup.add('close udp socket', () => new Promise<void>((r) => sock.close(() => r())));
  sock.on('message', (msg, rinfo) => sock.send(answer(msg), rinfo.port, rinfo.address));
  return sock;
}

async function serveTcp(cleanup: Cleanup, fd: number): Promise<net.Server> {
  const server = net.createServer((conn) => {
    let pending = Buffer.alloc(0);
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        const reply = answer(query);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        conn.write(Buffer.concat([len, reply]));
      }
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => resolve());
    });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  cleanup.add('close tcp server', () => new Promise<void>((r) => server.close(() => r())));
  return server;
}

function digIn(netns: string | undefined, server: string, extra: readonly string[] = []) {
  const dig = ['dig', '+short', ...DIG_TIMEOUT_ARGS, ...extra, `@${server}`, QUERY_NAME, 'A'];
  return netns ? run('ip', ['netns', 'exec', netns, ...dig]) : run(dig[0]!, dig.slice(1));
}

// ---- thread namespaces ----

function netnsOf(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined; // thread exited between readdir and readlink
  }
}

function threadNetns(): Map<string, string> {
  const out = new Map<string, string>();
  for (const tid of readdirSync('/proc/self/task')) {
    const ns = netnsOf(`/proc/self/task/${tid}/ns/net`);
    if (ns) out.set(tid, ns);
  }
  return out;
}

// ---- pause ----

function signalsCaught(pid: number): bigint {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SigCgt:'));
  return BigInt(`0x${line?.split(/\s+/)[1] ?? '0'}`);
}

/** Resolves once pid has its handlers installed, so a signal cannot hit the default action. */
function waitPauseReady(pid: number): Promise<true> {
  const wanted = SIGINT_BIT | SIGTERM_BIT | SIGCHLD_BIT;
  return waitFor(`pause (pid ${pid}) to install its signal handlers`, async () => (signalsCaught(pid) & wanted) === wanted, PAUSE_READY_MS, 20);
}

function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started });
    });
  });
}

function spawnOwned(cleanup: Cleanup, cmd: string, args: readonly string[]): ChildProcess {
  const child = spawn(cmd, args as string[], { stdio: 'ignore' });
  cleanup.add(`kill ${cmd}`, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

// ---- tests ----

// Serial: ava runs serial tests before concurrent ones, so no other test's helper thread can
// be alive while this one compares every thread's namespace.
test.serial('no thread of this process changes namespace, sync or async', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const before = threadNetns();
  const mainNs = readlinkSync('/proc/self/ns/net');
  t.not(statSync(ns.path).ino, statSync('/proc/self/ns/net').ino, 'the new netns must differ from ours');

  const opts: NetnsSocketOptions = { type: 'udp', address: DNS_ADDRESS, port: 0 };
  const fds = [openSocketInNetns(ns.path, opts), openSocketInNetns(ns.path, { ...opts, type: 'tcp' })];
  fds.push(...(await Promise.all(Array.from({ length: PARALLEL_CALLS }, () => openSocketInNetnsAsync(ns.path, opts)))));
  await Promise.allSettled(Array.from({ length: PARALLEL_CALLS }, () => openSocketInNetnsAsync(`${ns.path}-missing`, opts)));
  fds.forEach((fd) => closeSync(fd));

  t.is(readlinkSync('/proc/self/ns/net'), mainNs);
  const after = threadNetns();
  for (const [tid, link] of after) t.is(link, mainNs, `thread ${tid} moved to ${link}`);
  for (const [tid, link] of before) t.is(link, mainNs, `thread ${tid} started in ${link}`);
});

test('UDP: dig inside the netns is answered by a socket served from this process', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const fd = openSocketInNetns(ns.path, { type: 'udp', address: DNS_ADDRESS, port: DNS_PORT });
  t.true(fd > 2);
  const sock = await serveUdp(cleanup, fd, 'udp4');
  t.deepEqual(sock.address(), { address: DNS_ADDRESS, family: 'IPv4', port: DNS_PORT });

  const { stdout } = await digIn(ns.name, DNS_ADDRESS);
  t.is(stdout.trim(), ANSWER_V4);
});

test('TCP: dig +tcp inside the netns gets a length-prefixed answer', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const fd = await openSocketInNetnsAsync(ns.path, { type: 'tcp', address: DNS_ADDRESS, port: DNS_PORT, reuseAddr: true });
  await serveTcp(cleanup, fd);

  const { stdout } = await digIn(ns.name, DNS_ADDRESS, ['+tcp']);
  t.is(stdout.trim(), ANSWER_V4);
});

test('IPv6: UDP on [::1] inside the netns', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const fd = openSocketInNetns(ns.path, { type: 'udp', address: '::1', port: DNS_PORT });
  await serveUdp(cleanup, fd, 'udp6');

  const { stdout } = await digIn(ns.name, '::1');
  t.is(stdout.trim(), ANSWER_V4);
});

test('isolation: the port exists only inside the netns', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const tcpFd = openSocketInNetns(ns.path, { type: 'tcp', address: DNS_ADDRESS, port: 0 });
  const server = await serveTcp(cleanup, tcpFd);
  const port = (server.address() as net.AddressInfo).port;
  const udpFd = openSocketInNetns(ns.path, { type: 'udp', address: DNS_ADDRESS, port });
  await serveUdp(cleanup, udpFd, 'udp4');

  const inside = await digIn(ns.name, DNS_ADDRESS, ['+tcp', '-p', String(port)]);
  t.is(inside.stdout.trim(), ANSWER_V4);

  const fromHost = await t.throwsAsync(digIn(undefined, DNS_ADDRESS, ['+tcp', '-p', String(port)]));
  t.regex(fromHost?.message ?? '', new RegExp(`exit ${DIG_EXIT_NO_REPLY}`));

  // The same address:port is free in our own namespace, for both protocols.
  const hostTcp = net.createServer();
  await new Promise<void>((resolve, reject) => {
    hostTcp.once('error', reject);
    hostTcp.listen({ host: DNS_ADDRESS, port }, () => resolve());
  });
  cleanup.add('close host tcp', () => new Promise<void>((r) => hostTcp.close(() => r())));
  const hostUdp = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    hostUdp.once('error', reject);
    hostUdp.bind({ address: DNS_ADDRESS, port }, () => resolve());
  });
  cleanup.add('close host udp', () => new Promise<void>((r) => hostUdp.close(() => r())));
  t.pass();
});

test('a /proc/PID/ns/net path works: the netns of a pause process', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  // ip netns exec execs in place, so the child's pid is pause's pid.
  const pause = spawnOwned(cleanup, 'ip', ['netns', 'exec', ns.name, pauseBinaryPath()]);
  const pid = pause.pid!;
  await waitPauseReady(pid);
  t.is(statSync(`/proc/${pid}/ns/net`).ino, statSync(ns.path).ino);

  const fd = openSocketInNetns(`/proc/${pid}/ns/net`, { type: 'udp', address: DNS_ADDRESS, port: DNS_PORT });
  await serveUdp(cleanup, fd, 'udp4');
  const { stdout } = await digIn(ns.name, DNS_ADDRESS);
  t.is(stdout.trim(), ANSWER_V4);

  const exited = exitOf(pause, PAUSE_EXIT_MS);
  process.kill(pid, 'SIGTERM');
  t.like(await exited, { code: 0, signal: null });
});

test('errors: missing netns path is E_NETNS_OPEN naming the path', async (t) => {
  const path = `${NETNS_DIR}/${uniqueName('bnsmissing')}`;
  const err = t.throws(() => openSocketInNetns(path, { type: 'udp', address: DNS_ADDRESS, port: DNS_PORT }), {
    instanceOf: NetnsSocketError,
  });
  t.like(err, { code: 'E_NETNS_OPEN', errnoName: 'ENOENT', syscall: 'open', netnsPath: path });
  t.true(err?.message.includes(path));
  t.true(err?.message.includes(`udp ${DNS_ADDRESS}:${DNS_PORT}`));

  const asyncErr = await t.throwsAsync(openSocketInNetnsAsync(path, { type: 'tcp', address: DNS_ADDRESS, port: DNS_PORT }), {
    instanceOf: NetnsSocketError,
  });
  t.is(asyncErr?.code, 'E_NETNS_OPEN');
});

test('errors: an address absent from the netns is E_BIND / EADDRNOTAVAIL', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const err = t.throws(() => openSocketInNetns(ns.path, { type: 'udp', address: ABSENT_ADDRESS, port: DNS_PORT }), {
    instanceOf: NetnsSocketError,
  });
  t.like(err, { code: 'E_BIND', errnoName: 'EADDRNOTAVAIL', syscall: 'bind', errno: 99 });
  t.is(
    err?.message.split(';')[0],
    `openSocketInNetns(${ns.path}, udp ${ABSENT_ADDRESS}:${DNS_PORT}): bind failed: Cannot assign requested address (EADDRNOTAVAIL)`,
  );
});

test('errors: a port already bound in the netns is E_BIND / EADDRINUSE; the fd is not leaked', async (t) => {
  const cleanup = withCleanup(t);
  const ns = await makeNetns(cleanup);
  const fd = openSocketInNetns(ns.path, { type: 'tcp', address: DNS_ADDRESS, port: DNS_PORT });
  cleanup.add('close fd', () => closeSync(fd));
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const err = t.throws(() => openSocketInNetns(ns.path, { type: 'tcp', address: DNS_ADDRESS, port: DNS_PORT }), {
    instanceOf: NetnsSocketError,
  });
  t.like(err, { code: 'E_BIND', errnoName: 'EADDRINUSE' });
  t.is(readdirSync('/proc/self/fd').length, fdsBefore);
});

test('errors: a file that is not a network namespace is E_SETNS', (t) => {
  const err = t.throws(() => openSocketInNetns('/proc/self/ns/uts', { type: 'udp', address: DNS_ADDRESS, port: DNS_PORT }), {
    instanceOf: NetnsSocketError,
  });
  t.like(err, { code: 'E_SETNS', errnoName: 'EINVAL', syscall: 'setns' });
});

test('errors: invalid arguments are rejected before any syscall', (t) => {
  const err = t.throws(() => openSocketInNetns('/nonexistent', { type: 'udp', address: DNS_ADDRESS, port: 70000 }), {
    instanceOf: NativeError,
  });
  t.is(err?.code, 'E_INVALID_ARGUMENT');
  t.regex(err?.message ?? '', /port must be an integer in 0\.\.65535, got 70000/);
});

test('pause exits 0 promptly on SIGTERM and on SIGINT', async (t) => {
  const cleanup = withCleanup(t);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const pause = spawnOwned(cleanup, pauseBinaryPath(), []);
    await waitPauseReady(pause.pid!);
    const exited = exitOf(pause, PAUSE_EXIT_MS);
    pause.kill(signal);
    const result = await exited;
    t.like(result, { code: 0, signal: null }, signal);
  }
});

test('pause as PID 1 of a PID namespace: handles SIGTERM and reaps orphans', async (t) => {
  const cleanup = withCleanup(t);
  // sh leaves a zombie from before the exec and an orphan that dies after it; both become
  // pause's children, and only pause can reap them.
  const script = `sleep 0 & sleep 0.2; (sleep 0.5 &); exec ${pauseBinaryPath()}`;
  const unshare = spawnOwned(cleanup, 'unshare', ['--pid', '--fork', 'sh', '-c', script]);
  const pid = await waitFor(
    'the PID-namespace init to exec pause',
    async () => childrenOf(unshare.pid!).find((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'pause'),
    PAUSE_READY_MS,
    20,
  );
  await waitPauseReady(pid);
  await waitFor('the orphan to be adopted by pause', async () => childrenOf(pid).length > 0, PAUSE_READY_MS, 20);
  await waitFor('pause to reap every child', async () => childrenOf(pid).length === 0, PAUSE_READY_MS, 50);

  const exited = exitOf(unshare, PAUSE_EXIT_MS);
  process.kill(pid, 'SIGTERM');
  t.like(await exited, { code: 0, signal: null });
});

test('tuneMalloc sets the glibc mmap threshold and arena count; releaseFreeMemory runs malloc_trim', (t) => {
  t.true(tuneMalloc(128 * 1024, 2));
  // Large blocks freed, then trimmed: whether pages went back depends on the heap, not a failure.
  const blocks = Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1));
  blocks.length = 0;
  t.is(typeof releaseFreeMemory(), 'boolean');
});
