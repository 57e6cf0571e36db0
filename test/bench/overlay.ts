// `npm run bench -- overlay`: program 1,000 remote endpoints into one overlay network and attach
// 100 sandboxes, through berth's netlink path and through one `ip`/`bridge` command per entry
// (what a shell-out implementation does), in the same run on the same host namespace.
// Goals: ≥ 20× faster than command-per-entry; 1,000 endpoints in under 100 ms (median).
import { readdirSync } from 'node:fs';
import { OverlayDataPlane } from '../../netd/overlay/index.js';
import { overlayNetnsName } from '../../netd/overlay/naming.js';
import type { Endpoint, OverlayNetworkSpec } from '../../netd/types.js';
import { run, runQuiet } from '../../scripts/lib/exec.js';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { defineBenchmark } from './types.js';

const ENDPOINTS = 1_000;
const SANDBOXES = 100;
const NETNS_DIR = '/var/run/netns';
const REMOTE_VTEP = '10.77.0.99';
const NET: OverlayNetworkSpec = { id: 'benchnet0000000001', name: 'bench', vni: 7001, subnet: '10.60.0.0/16', gateway: '10.60.0.1' };
/** The command path's own network: another VNI in the same host namespace. */
const CMD_VNI = 7002;
const MTU = 1450;

interface Ctx {
  underlay: Underlay;
  plane: OverlayDataPlane;
  berthSandboxes: string[];
  cmdSandboxes: string[];
  cmdNs: string;
  endpoints: Endpoint[];
}

function ipOf(i: number): string {
  return `10.60.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function macOf(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

async function commandEndpoints(ctx: Ctx, op: 'add' | 'del'): Promise<void> {
  for (const e of ctx.endpoints) {
    await run('ip', ['-n', ctx.cmdNs, 'neigh', op, e.ip, ...(op === 'add' ? ['lladdr', macOf(e.ip), 'nud', 'permanent'] : []), 'dev', 'vxlan0']);
    await run('bridge', ['-n', ctx.cmdNs, 'fdb', op, macOf(e.ip), 'dev', 'vxlan0', 'dst', e.vtep, 'self', ...(op === 'add' ? ['permanent'] : [])]);
  }
}

async function commandAttach(ctx: Ctx): Promise<void> {
  for (const [i, sb] of ctx.cmdSandboxes.entries()) {
    const ip = `10.61.0.${i + 10}`;
    const host = `cv${i}`;
    await run('ip', ['-n', ctx.cmdNs, 'link', 'add', host, 'mtu', String(MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(MTU), 'address', macOf(ip), 'netns', sb]);
    await run('ip', ['-n', ctx.cmdNs, 'link', 'set', host, 'master', 'br0', 'up']);
    await run('ip', ['-n', sb, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', sb, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', sb, 'link', 'set', 'lo', 'up']);
  }
}

async function commandDetach(ctx: Ctx): Promise<void> {
  for (let i = 0; i < ctx.cmdSandboxes.length; i++) await run('ip', ['-n', ctx.cmdNs, 'link', 'del', `cv${i}`]);
}

export default defineBenchmark<Ctx>({
  description: `${ENDPOINTS} remote endpoints + ${SANDBOXES} sandbox attaches: berth netlink vs one ip/bridge command per entry`,
  runs: 3,
  async setup() {
    const underlay = await createHosts(1);
    const host = underlay.hosts[0]!;
    const plane = await OverlayDataPlane.open({ advertiseAddress: host.address, hostNetns: host.netnsPath, netnsDir: NETNS_DIR, namePrefix: `${host.name}-` });
    await plane.createNetwork(NET);
    const mk = async (tag: string) => {
      const names: string[] = [];
      for (let i = 0; i < SANDBOXES; i++) {
        const n = `${underlay.id}-${tag}${i}`;
        await run('ip', ['netns', 'add', n]);
        names.push(n);
      }
      return names;
    };
    const cmdNs = `${underlay.id}-cmd`;
    await run('ip', ['netns', 'add', cmdNs]);
    await run('ip', ['-n', cmdNs, 'link', 'add', 'br0', 'mtu', String(MTU), 'type', 'bridge']);
    await run('ip', ['-n', cmdNs, 'link', 'set', 'br0', 'up']);
    await run('ip', ['-n', host.name, 'link', 'add', 'cvx', 'mtu', String(MTU), 'type', 'vxlan', 'id', String(CMD_VNI), 'dstport', '4789', 'nolearning', 'proxy']);
    await run('ip', ['-n', host.name, 'link', 'set', 'cvx', 'netns', cmdNs, 'name', 'vxlan0']);
    await run('ip', ['-n', cmdNs, 'link', 'set', 'vxlan0', 'master', 'br0', 'up']);
    const endpoints = Array.from({ length: ENDPOINTS }, (_, i) => ({ network: NET.id, ip: ipOf(i), vtep: REMOTE_VTEP }));
    // Steady state is what an agent lives in: warm the JIT and the kernel's tables once.
    await plane.applyEndpoints(endpoints);
    await plane.applyEndpoints([], endpoints);
    return { underlay, plane, berthSandboxes: await mk('b'), cmdSandboxes: await mk('c'), cmdNs, endpoints };
  },
  async measure(ctx) {
    let t0 = performance.now();
    await ctx.plane.applyEndpoints(ctx.endpoints);
    const berthEndpointsMs = performance.now() - t0;
    const ovns = overlayNetnsName(`${ctx.underlay.hosts[0]!.name}-`, NET.id);
    const programmed = (await run('ip', ['-n', ovns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent'])).stdout.trim().split('\n').length;
    if (programmed !== ENDPOINTS) throw new Error(`berth programmed ${programmed} neighbours, expected ${ENDPOINTS}`);
    await ctx.plane.applyEndpoints([], ctx.endpoints);

    t0 = performance.now();
    for (const [i, sb] of ctx.berthSandboxes.entries()) {
      await ctx.plane.attachSandbox(`bt${i}`, `${NETNS_DIR}/${sb}`, [{ networkId: NET.id, addresses: [`10.60.0.${i + 10}`] }]);
    }
    const berthAttachMs = performance.now() - t0;
    for (let i = 0; i < ctx.berthSandboxes.length; i++) await ctx.plane.detachSandbox(`bt${i}`);

    t0 = performance.now();
    await commandEndpoints(ctx, 'add');
    const cmdEndpointsMs = performance.now() - t0;
    await commandEndpoints(ctx, 'del');
    t0 = performance.now();
    await commandAttach(ctx);
    const cmdAttachMs = performance.now() - t0;
    await commandDetach(ctx);

    return {
      berth_endpoints_ms: berthEndpointsMs,
      cmd_endpoints_ms: cmdEndpointsMs,
      berth_attach_ms: berthAttachMs,
      cmd_attach_ms: cmdAttachMs,
      endpoints_speedup: cmdEndpointsMs / berthEndpointsMs,
      attach_speedup: cmdAttachMs / berthAttachMs,
      total_speedup: (cmdEndpointsMs + cmdAttachMs) / (berthEndpointsMs + berthAttachMs),
    };
  },
  async teardown(ctx) {
    await ctx.plane.close();
    await ctx.underlay.destroy();
    for (const n of readdirSync(NETNS_DIR).filter((x) => x.startsWith(ctx.underlay.id))) await runQuiet('ip', ['netns', 'del', n]);
  },
  goals: {
    speedup_vs_command_per_entry: { value: (m) => (m.cmd_endpoints_ms! + m.cmd_attach_ms!) / (m.berth_endpoints_ms! + m.berth_attach_ms!), target: '>= 20' },
    endpoints_1000_ms: { value: (m) => m.berth_endpoints_ms!, target: '< 100' },
  },
});
