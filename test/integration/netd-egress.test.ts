// Egress and host rules for real: two namespace hosts on one underlay — h0 runs berth's gateway
// bridge and host rules (its namespace is their hostNetns), h1 is "the outside". Sandboxes are
// plain namespaces joined to the bridge; responders are TCP servers of this process listening
// inside a namespace (native openSocketInNetns), answering "<tag> <peer address>"; clients are
// busybox nc run in a namespace. Kernel state is checked with ip/nft/iptables (tests may shell
// out; netd never does, except nft/iptables and the sysctl child).
import test from 'ava';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { delimiter, sep } from 'node:path';
import { openSocketInNetns, openSocketInNetnsAsync } from '../../native/index.js';
import { NetdValidationError } from '../../netd/errors.js';
import { HostRules, setSandboxRedirects, type PublishedPort } from '../../netd/nat/index.js';
import { GatewayBridge, gatewayVethName } from '../../netd/overlay/gateway.js';
import { Rtnl } from '../../netd/overlay/rtnl.js';
import { requireCommand, requireRoot, run, runQuiet } from '../../scripts/lib/exec.js';
import { createHosts, createNetns, type TestHost, type Underlay } from '../../scripts/lib/hosts.js';

// `npx ava` puts node_modules/.bin first on PATH, and ava's dependency @vercel/nft installs a
// binary named `nft` there that exits 0 on any script: netd/nft.ts would run it instead of
// nftables. Drop those entries so every child finds the system's tools.
process.env.PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((d) => !d.endsWith(`node_modules${sep}.bin`))
  .join(delimiter);

const BRIDGE = 'berth_gwbridge';
const GATEWAY = '172.31.0.1';
const OUTSIDE_PORT = 7001;
const TASK_PORT = 8080;
const HOST_PUBLISHED = 30080;
const INGRESS_PUBLISHED = 30090;
const TAKEN_PORT = 30100;
const REDIRECT_PORT = 7100;
const NC_WAIT_S = '2';

type Netns = Awaited<ReturnType<typeof createNetns>>;

interface Fixture {
  underlay: Underlay;
  h0: TestHost;
  outside: TestHost;
  hostRtnl: Rtnl;
  gw: GatewayBridge;
  rules: HostRules;
  sb1: Netns;
  sb2: Netns;
  ingress: Netns;
  /** Addresses (no prefix) by key. */
  addr: Map<string, string>;
  servers: net.Server[];
  extra: Netns[];
}

let fx: Fixture;

async function responder(netnsPath: string, port: number, tag: string): Promise<void> {
  const fd = await openSocketInNetnsAsync(netnsPath, { type: 'tcp', address: '0.0.0.0', port, reuseAddr: true });
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(`${tag} ${s.remoteAddress ?? '?'}\n`);
  });
  await new Promise<void>((resolve) => server.listen({ fd }, resolve));
  fx.servers.push(server);
}

/** What a responder at address:port says to a client in `netnsPath`, or "failed: …". */
async function ask(netnsPath: string, address: string, port: number): Promise<string> {
  try {
    const r = await run('nsenter', [`--net=${netnsPath}`, 'busybox', 'nc', '-w', NC_WAIT_S, address, String(port)], { input: '', timeoutMs: 15_000 });
    return r.stdout.trim();
  } catch (err) {
    return `failed: ${(err as Error).message.split('\n').join(' ')}`;
  }
}

async function pings(netnsPath: string, address: string): Promise<boolean> {
  return runQuiet('nsenter', [`--net=${netnsPath}`, 'busybox', 'ping', '-c', '1', '-W', '1', address], { timeoutMs: 10_000 });
}

async function inNs(netnsPath: string, cmd: string, args: readonly string[]): Promise<string> {
  return (await run('nsenter', [`--net=${netnsPath}`, cmd, ...args])).stdout;
}

async function berthTable(netnsPath: string): Promise<string | undefined> {
  try {
    return await inNs(netnsPath, 'nft', ['list', 'table', 'ip', 'berth']);
  } catch {
    return undefined;
  }
}

/** A joined key's address (no prefix). */
function addrOf(key: string): string {
  const a = fx.addr.get(key);
  if (a === undefined) throw new Error(`${key} never joined`);
  return a;
}

function bare(cidr: string): string {
  return cidr.split('/')[0]!;
}

async function linkIndex(netnsPath: string, name: string): Promise<number> {
  const out = await inNs(netnsPath, 'ip', ['-o', 'link', 'show', name]);
  return Number(/^(\d+):/.exec(out)?.[1]);
}

test.before(async () => {
  requireRoot('netd egress tests');
  requireCommand('nft', 'nftables');
  requireCommand('iptables', 'iptables');
  requireCommand('busybox', 'busybox-static');
  requireCommand('nsenter', 'util-linux');
  const underlay = await createHosts(2, { subnetPrefix: '10.78.0' });
  const [h0, outside] = underlay.hosts as [TestHost, TestHost];
  const hostRtnl = Rtnl.open(h0.netnsPath);
  fx = {
    underlay,
    h0,
    outside,
    hostRtnl,
    gw: new GatewayBridge(hostRtnl, { hostNetns: h0.netnsPath }),
    rules: new HostRules({ hostNetns: h0.netnsPath }),
    sb1: await createNetns('bes'),
    sb2: await createNetns('bes'),
    ingress: await createNetns('bei'),
    addr: new Map(),
    servers: [],
    extra: [],
  };
  await fx.gw.ensure();
  for (const [key, ns, ifname] of [
    ['task-one', fx.sb1, 'eth0'],
    ['task-two', fx.sb2, 'eth0'],
    ['ingress-sbox', fx.ingress, 'eth1'],
  ] as const) {
    const j = await fx.gw.join(key, ns.path, ifname);
    fx.addr.set(key, bare(j.address));
  }
  await fx.rules.ensure();
  await responder(outside.netnsPath, OUTSIDE_PORT, 'outside');
  await responder(fx.sb1.path, TASK_PORT, 'task-one');
  await responder(fx.sb2.path, TASK_PORT, 'task-two');
  await responder(fx.ingress.path, INGRESS_PUBLISHED, 'ingress');
});

test.after.always(async () => {
  if (!fx) return;
  for (const s of fx.servers) s.close();
  await fx.rules.close().catch(() => undefined);
  await fx.hostRtnl.close().catch(() => undefined);
  for (const ns of [fx.sb1, fx.sb2, fx.ingress, ...fx.extra]) await ns.destroy().catch(() => undefined);
  // Deleting h0's namespace takes the bridge, the table and BERTH-FORWARD with it.
  await fx.underlay.destroy();
});

test.serial('ensure makes the bridge with the first address, route_localnet and forwarding, and repairs drift', async (t) => {
  const h0 = fx.h0.netnsPath;
  t.regex(await inNs(h0, 'ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE]), new RegExp(`inet ${GATEWAY}/16`));
  t.is((await inNs(h0, 'cat', [`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`])).trim(), '1');
  t.is((await inNs(h0, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim(), '1');
  const index = await linkIndex(h0, BRIDGE);
  await inNs(h0, 'ip', ['addr', 'flush', 'dev', BRIDGE]);
  await inNs(h0, 'ip', ['link', 'set', BRIDGE, 'down']);
  await fx.gw.ensure();
  t.regex(await inNs(h0, 'ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE]), new RegExp(`inet ${GATEWAY}/16`));
  t.regex(await inNs(h0, 'ip', ['-o', 'link', 'show', BRIDGE]), /[<,]UP[,>]/);
  t.is(await linkIndex(h0, BRIDGE), index);
  // The bridge going down took the sandboxes' routes out of the host; joins put everything back.
  for (const [key, ns, ifname] of [
    ['task-one', fx.sb1, 'eth0'],
    ['task-two', fx.sb2, 'eth0'],
    ['ingress-sbox', fx.ingress, 'eth1'],
  ] as const) {
    t.is(bare((await fx.gw.join(key, ns.path, ifname)).address), addrOf(key));
  }
});

test.serial('a joined sandbox has an address in the subnet and its default route via the bridge', async (t) => {
  const a = addrOf('task-one');
  t.is(fx.gw.addressOf('task-one'), `${a}/16`);
  t.regex(await inNs(fx.sb1.path, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet ${a.replaceAll('.', '\\.')}/16`));
  t.regex(await inNs(fx.sb1.path, 'ip', ['route', 'show', 'default']), new RegExp(`^default via ${GATEWAY} dev eth0`));
  t.regex(await inNs(fx.ingress.path, 'ip', ['route', 'show', 'default']), new RegExp(`^default via ${GATEWAY} dev eth1`));
  t.not(addrOf('task-one'), addrOf('task-two'));
  t.true(await pings(fx.sb1.path, GATEWAY));
});

test.serial('egress: a sandbox reaches the outside host, masqueraded to the host\'s underlay address', async (t) => {
  t.is(await ask(fx.sb1.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
  t.is(await ask(fx.sb2.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
});

test.serial('ICC off: two sandboxes on the bridge cannot reach each other', async (t) => {
  t.false(await pings(fx.sb1.path, addrOf('task-two')));
  t.regex(await ask(fx.sb1.path, addrOf('task-two'), TASK_PORT), /^failed/);
  t.regex(await ask(fx.sb2.path, addrOf('task-one'), TASK_PORT), /^failed/);
});

test.serial('host mode: a published port on the host reaches the task at its target port, from outside and from localhost', async (t) => {
  const ports: PublishedPort[] = [{ protocol: 'tcp', port: HOST_PUBLISHED, mode: 'host', address: addrOf('task-one'), targetPort: TASK_PORT, owner: 'task-one' }];
  await fx.rules.setPublished(ports);
  // Host mode keeps the client's address, as Docker's bridge DNAT does.
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, HOST_PUBLISHED), `task-one ${fx.outside.address}`);
  // Through route_localnet and the localhost masquerade: the task sees the bridge's address.
  t.is(await ask(fx.h0.netnsPath, '127.0.0.1', HOST_PUBLISHED), `task-one ${GATEWAY}`);
  // The port is held on the host by berth's reservation.
  t.regex(await inNs(fx.h0.netnsPath, 'cat', ['/proc/net/tcp']), new RegExp(`00000000:${HOST_PUBLISHED.toString(16).toUpperCase()} 00000000:0000 0A`));
});

test.serial('ingress mode: a published port is DNAT-ed to the ingress address with the port unchanged', async (t) => {
  await fx.rules.setIngressAddress(addrOf('ingress-sbox'));
  await fx.rules.setPublished([...fx.rules.published(), { protocol: 'tcp', port: INGRESS_PUBLISHED, mode: 'ingress' }]);
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, INGRESS_PUBLISHED), `ingress ${fx.outside.address}`);
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, HOST_PUBLISHED), `task-one ${fx.outside.address}`);
});

test.serial('a port another process holds is refused with an error naming it, and nothing changes', async (t) => {
  const fd = openSocketInNetns(fx.h0.netnsPath, { type: 'tcp', address: '0.0.0.0', port: TAKEN_PORT });
  try {
    const before = await berthTable(fx.h0.netnsPath);
    const published = fx.rules.published();
    const err = await t.throwsAsync(() => fx.rules.setPublished([...published, { protocol: 'tcp', port: TAKEN_PORT, mode: 'ingress' }]), { instanceOf: NetdValidationError });
    t.is(err?.code, 'E_PORT_CONFLICT');
    t.regex(err?.message ?? '', new RegExp(`tcp port ${TAKEN_PORT} is already in use`));
    t.is(await berthTable(fx.h0.netnsPath), before);
    t.deepEqual(fx.rules.published(), published);
    // A conflict between two uses is caught before any socket or rule.
    await t.throwsAsync(
      () => fx.rules.setPublished([...published, { protocol: 'tcp', port: INGRESS_PUBLISHED, mode: 'host', address: addrOf('task-two'), targetPort: TASK_PORT, owner: 'task-two' }]),
      { instanceOf: NetdValidationError, message: new RegExp(`tcp port ${INGRESS_PUBLISHED} is published twice`) },
    );
    t.is(await berthTable(fx.h0.netnsPath), before);
    t.is(await ask(fx.outside.netnsPath, fx.h0.address, INGRESS_PUBLISHED), `ingress ${fx.outside.address}`);
  } finally {
    closeSync(fd);
  }
});

test.serial('Docker\'s FORWARD policy DROP: berth adds BERTH-FORWARD once and its traffic still flows', async (t) => {
  const h0 = fx.h0.netnsPath;
  await inNs(h0, 'iptables', ['-P', 'FORWARD', 'DROP']);
  await inNs(h0, 'iptables', ['-A', 'FORWARD', '-i', 'someone-else', '-j', 'ACCEPT']);
  t.regex(await ask(fx.sb1.path, fx.outside.address, OUTSIDE_PORT), /^failed/, 'the DROP policy bites before berth knows of it');
  await fx.rules.ensure();
  await fx.rules.ensure();
  const forward = await inNs(h0, 'iptables', ['-S', 'FORWARD']);
  t.is(forward.split('\n').filter((l) => l === '-A FORWARD -j BERTH-FORWARD').length, 1);
  t.regex(forward, /-A FORWARD -i someone-else -j ACCEPT\n-A FORWARD -j BERTH-FORWARD/);
  t.regex(await inNs(h0, 'iptables', ['-S', 'BERTH-FORWARD']), /-A BERTH-FORWARD -i berth_gwbridge ! -o berth_gwbridge -j ACCEPT/);
  t.is(await ask(fx.sb1.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, HOST_PUBLISHED), `task-one ${fx.outside.address}`);
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, INGRESS_PUBLISHED), `ingress ${fx.outside.address}`);
  t.regex(await ask(fx.sb1.path, addrOf('task-two'), TASK_PORT), /^failed/);
});

test.serial('setSandboxRedirects: the task\'s address on the published port reaches the target port; empty removes it', async (t) => {
  const a = addrOf('task-one');
  t.regex(await ask(fx.h0.netnsPath, a, REDIRECT_PORT), /^failed/);
  await setSandboxRedirects(fx.sb1.path, [{ address: a, protocol: 'tcp', port: REDIRECT_PORT, targetPort: TASK_PORT }]);
  t.is(await ask(fx.h0.netnsPath, a, REDIRECT_PORT), `task-one ${GATEWAY}`);
  await setSandboxRedirects(fx.sb1.path, [{ address: a, protocol: 'tcp', port: REDIRECT_PORT, targetPort: TASK_PORT }]);
  t.is(await ask(fx.h0.netnsPath, a, REDIRECT_PORT), `task-one ${GATEWAY}`);
  await setSandboxRedirects(fx.sb1.path, []);
  t.is(await berthTable(fx.sb1.path), undefined);
  t.regex(await ask(fx.h0.netnsPath, a, REDIRECT_PORT), /^failed/);
});

test.serial('after a restart (new objects) ensure/join keep the sandbox\'s address and link; host rules take their ports back', async (t) => {
  const before = { index: await linkIndex(fx.sb1.path, 'eth0'), hostIndex: await linkIndex(fx.h0.netnsPath, gatewayVethName('task-one')) };
  const published = fx.rules.published();
  await fx.rules.close();
  await fx.hostRtnl.close();
  fx.hostRtnl = Rtnl.open(fx.h0.netnsPath);
  fx.gw = new GatewayBridge(fx.hostRtnl, { hostNetns: fx.h0.netnsPath });
  fx.rules = new HostRules({ hostNetns: fx.h0.netnsPath });
  await fx.gw.ensure();
  // task-two first: its preference must not take task-one's address, nor the other way round.
  for (const [key, ns, ifname] of [
    ['task-two', fx.sb2, 'eth0'],
    ['task-one', fx.sb1, 'eth0'],
    ['ingress-sbox', fx.ingress, 'eth1'],
  ] as const) {
    const j = await fx.gw.join(key, ns.path, ifname);
    t.is(bare(j.address), addrOf(key), key);
    t.false(j.repaired, `${key}: a healthy join is not counted as a repair`);
  }
  t.is(await linkIndex(fx.sb1.path, 'eth0'), before.index);
  t.is(await linkIndex(fx.h0.netnsPath, gatewayVethName('task-one')), before.hostIndex);
  await fx.rules.setIngressAddress(addrOf('ingress-sbox'));
  await fx.rules.setPublished(published);
  await fx.rules.ensure();
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, HOST_PUBLISHED), `task-one ${fx.outside.address}`);
  t.is(await ask(fx.sb1.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
});

test.serial('a join repairs a deleted default route and a lost address without re-creating the link', async (t) => {
  const index = await linkIndex(fx.sb2.path, 'eth0');
  await inNs(fx.sb2.path, 'ip', ['route', 'replace', 'default', 'dev', 'lo']);
  await inNs(fx.sb2.path, 'ip', ['addr', 'flush', 'dev', 'eth0']);
  const j = await fx.gw.join('task-two', fx.sb2.path, 'eth0');
  t.is(bare(j.address), addrOf('task-two'));
  t.true(j.repaired, 'the join says it repaired the sandbox');
  t.false((await fx.gw.join('task-two', fx.sb2.path, 'eth0')).repaired, 'a second join finds nothing to repair');
  t.is(await linkIndex(fx.sb2.path, 'eth0'), index);
  const routes = (await inNs(fx.sb2.path, 'ip', ['route', 'show', 'default'])).trim().split('\n');
  t.deepEqual(routes.map((r) => r.split(' ').slice(0, 5).join(' ')), [`default via ${GATEWAY} dev eth0`]);
  t.is(await ask(fx.sb2.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
});

test.serial('a bridge deleted behind berth\'s back: ensure re-makes it, joins re-make the links with the same addresses', async (t) => {
  const h0 = fx.h0.netnsPath;
  await inNs(h0, 'ip', ['link', 'del', BRIDGE]);
  await fx.gw.ensure();
  t.is((await inNs(h0, 'cat', [`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`])).trim(), '1');
  for (const [key, ns, ifname] of [
    ['task-one', fx.sb1, 'eth0'],
    ['task-two', fx.sb2, 'eth0'],
    ['ingress-sbox', fx.ingress, 'eth1'],
  ] as const) {
    const j = await fx.gw.join(key, ns.path, ifname);
    t.is(bare(j.address), addrOf(key), key);
    t.true(j.repaired, `${key}: its link went with the bridge and was re-made`);
  }
  t.is(await ask(fx.sb1.path, fx.outside.address, OUTSIDE_PORT), `outside ${fx.h0.address}`);
  t.is(await ask(fx.outside.netnsPath, fx.h0.address, HOST_PUBLISHED), `task-one ${fx.outside.address}`);
  t.is(await ask(fx.h0.netnsPath, '127.0.0.1', INGRESS_PUBLISHED), `ingress ${GATEWAY}`);
});

test.serial('stray deletes gateway veths of keys nobody wants; leave deletes one', async (t) => {
  const gone = await createNetns('bex');
  fx.extra.push(gone);
  await fx.gw.join('task-gone', gone.path, 'eth0');
  t.is(await fx.gw.stray(new Set(['task-one', 'task-two', 'ingress-sbox'])), 1);
  t.false(await runQuiet('nsenter', [`--net=${fx.h0.netnsPath}`, 'ip', 'link', 'show', gatewayVethName('task-gone')]));
  t.false(await runQuiet('nsenter', [`--net=${gone.path}`, 'ip', 'link', 'show', 'eth0']));
  t.is(fx.gw.addressOf('task-gone'), undefined);
  t.is(await fx.gw.stray(new Set(['task-one', 'task-two', 'ingress-sbox'])), 0);
  await fx.gw.join('task-gone', gone.path, 'eth0');
  await fx.gw.leave('task-gone');
  t.false(await runQuiet('nsenter', [`--net=${gone.path}`, 'ip', 'link', 'show', 'eth0']));
});

test.serial('cleanup leaves no table ip berth, no BERTH-FORWARD, no jump, no bridge, no reservation', async (t) => {
  const h0 = fx.h0.netnsPath;
  await fx.rules.cleanup();
  await fx.gw.remove();
  t.is(await berthTable(h0), undefined);
  t.false(await runQuiet('nsenter', [`--net=${h0}`, 'iptables', '-S', 'BERTH-FORWARD']));
  const forward = await inNs(h0, 'iptables', ['-S', 'FORWARD']);
  t.notRegex(forward, /BERTH-FORWARD/);
  t.regex(forward, /-A FORWARD -i someone-else -j ACCEPT/, 'someone else\'s rule stays');
  t.regex(forward, /-P FORWARD DROP/);
  t.false(await runQuiet('nsenter', [`--net=${h0}`, 'ip', 'link', 'show', BRIDGE]));
  t.false(await runQuiet('nsenter', [`--net=${fx.sb1.path}`, 'ip', 'link', 'show', 'eth0']));
  t.notRegex(await inNs(h0, 'cat', ['/proc/net/tcp']), new RegExp(`00000000:${HOST_PUBLISHED.toString(16).toUpperCase()} 00000000:0000 0A`));
  // Cleanup twice is fine.
  await fx.rules.cleanup();
  await fx.gw.remove();
  t.pass();
});
