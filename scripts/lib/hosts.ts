// Test "hosts": network namespaces joined by an underlay. A switch namespace holds a bridge;
// every host namespace gets one veth (eth0) into it with an address on the underlay subnet.
// Everything lives in namespaces this harness creates, so concurrent suites never collide
// and deleting the namespaces removes every link.
import { existsSync } from 'node:fs';
import { Cleanup, HarnessError, requireCommand, requireRoot, run, runQuiet, uniqueName } from './exec.js';

const NETNS_DIR = '/var/run/netns';
const DEFAULT_SUBNET_PREFIX = '10.77.0';
const UNDERLAY_PREFIX_LEN = 24;
const UNDERLAY_MTU = 1500;
const MAX_HOSTS = 200;

export interface TestHost {
  /** Namespace name (ip netns). */
  readonly name: string;
  /** /var/run/netns/<name>: what nsenter --net= and setns() take. */
  readonly netnsPath: string;
  /** The host's underlay address (no prefix length). */
  readonly address: string;
  readonly iface: 'eth0';
  /** Runs a command inside this host's network namespace. */
  exec(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string>;
}

export interface Underlay {
  readonly id: string;
  readonly switchNetns: string;
  readonly hosts: readonly TestHost[];
  readonly prefixLen: number;
  readonly mtu: number;
  destroy(): Promise<void>;
}

export interface HostsOptions {
  /** First three octets of the underlay /24 (default 10.77.0). Namespaces isolate it from the machine. */
  subnetPrefix?: string;
  mtu?: number;
}

function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

function makeHost(name: string, address: string): TestHost {
  return {
    name,
    netnsPath: netnsPath(name),
    address,
    iface: 'eth0',
    async exec(cmd, args, timeoutMs) {
      // nsenter --net only switches the network namespace; `ip netns exec` would also remount
      // /sys, which breaks dockerd and is unnecessary here.
      const r = await run('nsenter', [`--net=${netnsPath(name)}`, cmd, ...args], { timeoutMs: timeoutMs ?? 60_000 });
      return r.stdout;
    },
  };
}

/** Creates `count` hosts on one underlay. Call destroy() (or pass it to t.teardown) always. */
export async function createHosts(count: number, opts: HostsOptions = {}): Promise<Underlay> {
  requireRoot('the hosts harness');
  requireCommand('ip', 'iproute2');
  requireCommand('nsenter', 'util-linux');
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new HarnessError('E_ARG', `createHosts: count must be 1..${MAX_HOSTS}, got ${count}`);
  }
  const id = uniqueName('b');
  const prefix = opts.subnetPrefix ?? DEFAULT_SUBNET_PREFIX;
  const mtu = opts.mtu ?? UNDERLAY_MTU;
  const switchNetns = `${id}-sw`;
  const cleanup = new Cleanup();
  const hosts: TestHost[] = [];
  try {
    await run('ip', ['netns', 'add', switchNetns]);
    cleanup.add(`delete ${switchNetns}`, () => run('ip', ['netns', 'del', switchNetns]));
    await run('ip', ['-n', switchNetns, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', switchNetns, 'link', 'set', 'br0', 'mtu', String(mtu), 'up']);
    await run('ip', ['-n', switchNetns, 'link', 'set', 'lo', 'up']);
    for (let i = 0; i < count; i++) {
      const name = `${id}-h${i}`;
      const address = `${prefix}.${i + 1}`;
      await run('ip', ['netns', 'add', name]);
      cleanup.add(`delete ${name}`, () => run('ip', ['netns', 'del', name]));
      const swSide = `p${i}`;
      // Create the pair inside the switch namespace, then move one end into the host.
      await run('ip', ['-n', switchNetns, 'link', 'add', swSide, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu)]);
      await run('ip', ['-n', switchNetns, 'link', 'set', 'eth0', 'netns', name]);
      await run('ip', ['-n', switchNetns, 'link', 'set', swSide, 'master', 'br0', 'up']);
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', name, 'addr', 'add', `${address}/${UNDERLAY_PREFIX_LEN}`, 'dev', 'eth0']);
      await run('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
      hosts.push(makeHost(name, address));
    }
  } catch (err) {
    await cleanup.run().catch(() => undefined);
    throw err;
  }
  let destroyed = false;
  return {
    id,
    switchNetns,
    hosts,
    prefixLen: UNDERLAY_PREFIX_LEN,
    mtu,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await cleanup.run();
    },
  };
}

/** Creates a single bare namespace (lo up) for tests that need an isolated stack. */
export async function createNetns(prefix = 'bn'): Promise<{ name: string; path: string; destroy(): Promise<void> }> {
  requireRoot('createNetns');
  const name = uniqueName(prefix);
  await run('ip', ['netns', 'add', name]);
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await runQuiet('ip', ['netns', 'del', name]);
    throw err;
  }
  return {
    name,
    path: netnsPath(name),
    async destroy() {
      if (existsSync(netnsPath(name))) await run('ip', ['netns', 'del', name]);
    },
  };
}
