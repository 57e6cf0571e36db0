// `npm run bench -- vip`: the nftables VIP backend at scale, in fresh namespaces: a full sync of
// 1,000 and 10,000 services × 10 backends, and the latency of one backend change at 1,000 and
// at 10,000 services (median of CHANGES, the caller naming the changed service as the controller
// does; half change the service's slot count, which replaces its rule, half only re-point a slot:
// remove backend 3, put it back, swap it for another address, put it back, …). The same changes
// also go through the old path, `nft -f -` with the whole spec diffed (transport 'nft', no
// `changed`), so the netlink batch is measured against it. The floor: one `nft -f -` spawn of an
// empty batch. Baseline in the same run: kube-proxy's iptables mode — a nat chain per service
// with one `-m statistic --mode random --probability` DNAT rule per backend, loaded with
// `iptables-restore --noflush`. kube-proxy's classic sync writes the whole nat ruleset on every
// change (since 1.27 MinimizeIPTablesRestore writes only changed chains, but every service still
// costs a full restore after a resync), so one iptables change here = one full restore.
// Goals: 10,000×10 full sync < 1000 ms; one change < 10 ms; change at 10,000 ≤ 1.5 × at 1,000.
import { runNft } from '../../netd/nft.js';
import { NftablesBackend, type NftTransport } from '../../netd/vip/nftables.js';
import type { LbService, LoadBalancerSpec } from '../../netd/vip/types.js';
import { run } from '../../scripts/lib/exec.js';
import { createNetns } from '../../scripts/lib/hosts.js';
import { defineBenchmark } from './types.js';

const BACKENDS = 10;
const SMALL = 1_000;
const LARGE = 10_000;
const CHANGES = 20;
const CHANGED_SERVICE = 7;
const CHANGED_BACKEND = 3;
const SUBNET = '10.64.0.0/10';
const SOURCE = '10.64.0.2';
const PORT = 80;

// npm puts node_modules/.bin first on PATH, where ava's @vercel/nft installs another `nft`;
// netd/nft.ts spawns plain `nft`, so drop those directories for this process.
process.env.PATH = (process.env.PATH ?? '').split(':').filter((d) => !d.endsWith('node_modules/.bin')).join(':');

interface Ns {
  name: string;
  path: string;
  destroy(): Promise<void>;
}

interface Ctx {
  nft: Ns;
  ipt: Ns;
}

function ip(n: number): string {
  return `10.${64 + ((n >>> 16) & 63)}.${(n >>> 8) & 255}.${n & 255}`;
}

function vipOf(s: number): string {
  return ip(0x10_0000 + s);
}

function backendOf(s: number, b: number): string {
  return ip(0x20_0000 + s * 16 + b);
}

/** Backend 3 of service 7: as is, gone (one slot less), or another address (same slots). */
type Variant = 'full' | 'without' | 'swapped';

function services(count: number, variant: Variant = 'full'): LbService[] {
  return Array.from({ length: count }, (_, s) => {
    const backends = Array.from({ length: BACKENDS }, (_, b) => ({ ip: backendOf(s, b), weight: 1 }));
    if (s === CHANGED_SERVICE && variant === 'without') backends.splice(CHANGED_BACKEND, 1);
    if (s === CHANGED_SERVICE && variant === 'swapped') backends[CHANGED_BACKEND] = { ip: backendOf(s, BACKENDS), weight: 1 };
    return { key: `svc${s}`, vip: vipOf(s), ports: [], backends };
  });
}

function spec(ns: Ns, svcs: LbService[], changed?: ReadonlySet<string>): LoadBalancerSpec {
  return { netnsPath: ns.path, sourceAddress: SOURCE, subnet: SUBNET, services: svcs, ...(changed ? { changed } : {}) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** full → without → full → swapped → full …: every other change alters the slot count. */
const CYCLE: Variant[] = ['without', 'full', 'swapped', 'full'];

/** One backend change at a time, from a backend whose table holds `count` services: median ms.
 *  `named`: the spec names the changed service (the fast path) or not (the whole spec diffed). */
async function changeLatency(backend: NftablesBackend, ns: Ns, count: number, named: boolean): Promise<number> {
  const specs = new Map(CYCLE.map((v) => [v, services(count, v)]));
  const changed = named ? new Set([`svc${CHANGED_SERVICE}`]) : undefined;
  const samples: number[] = [];
  for (let i = 0; i < CHANGES; i++) samples.push(await timed(() => backend.apply(spec(ns, specs.get(CYCLE[i % CYCLE.length]!)!, changed))));
  return median(samples);
}

/** A full sync of `count` services with a new backend, then CHANGES changes through it. */
async function fullAndChanges(ns: Ns, count: number, transport: NftTransport): Promise<{ full: number; change: number }> {
  const backend = new NftablesBackend({ transport });
  const full = await timed(() => backend.apply(spec(ns, services(count))));
  const before = { ...backend.sent };
  const change = await changeLatency(backend, ns, count, transport === 'netlink');
  const s = backend.sent;
  const expected = transport === 'netlink' ? s.netlink - before.netlink : s.nft - before.nft;
  if (expected !== CHANGES || s.full !== before.full || s.netlinkFailed + s.stagedFailed !== 0) throw new Error(`${transport} changes at ${count} did not all go the ${transport} way: ${JSON.stringify({ before, after: s })}`);
  await backend.close();
  return { full, change };
}

/** kube-proxy-style nat ruleset: KUBE-SERVICES → KUBE-SVC-<n> → one statistic DNAT rule per backend. */
function iptablesRules(count: number, extra?: { service: number; without: number }): string {
  const lines = ['*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]'];
  const body: string[] = ['-A PREROUTING -j KUBE-SERVICES', '-A OUTPUT -j KUBE-SERVICES'];
  for (let s = 0; s < count; s++) {
    const chain = `KUBE-SVC-${s}`;
    lines.push(`:${chain} - [0:0]`);
    body.push(`-A KUBE-SERVICES -d ${vipOf(s)}/32 -p tcp --dport ${PORT} -j ${chain}`);
    const bs = Array.from({ length: BACKENDS }, (_, b) => backendOf(s, b)).filter((_, b) => !(extra?.service === s && extra.without === b));
    bs.forEach((addr, i) => {
      const left = bs.length - i;
      const stat = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(11)} ` : '';
      body.push(`-A ${chain} -p tcp ${stat}-j DNAT --to-destination ${addr}:${PORT}`);
    });
  }
  return `${[...lines, ...body, 'COMMIT'].join('\n')}\n`;
}

function iptablesRestore(ns: Ns, rules: string): Promise<unknown> {
  return run('nsenter', [`--net=${ns.path}`, 'iptables-restore', '--noflush'], { input: rules, timeoutMs: 600_000 });
}

export default defineBenchmark<Ctx>({
  description: `nftables VIP backend: full sync ${SMALL}×${BACKENDS} and ${LARGE}×${BACKENDS}, one backend change at ${SMALL} and ${LARGE} services (netlink, and the old nft -f path); kube-proxy iptables-restore baseline`,
  runs: 3,
  async setup() {
    return { nft: await createNetns('bvn'), ipt: await createNetns('bvi') };
  },
  async measure(ctx) {
    const empty: number[] = [];
    for (let i = 0; i < CHANGES; i++) empty.push(await timed(() => runNft('', { netnsPath: ctx.nft.path })));

    // A new backend each time: its first apply replaces the table whole, as after a restart.
    const small = await fullAndChanges(ctx.nft, SMALL, 'netlink');
    const large = await fullAndChanges(ctx.nft, LARGE, 'netlink');
    const smallOld = await fullAndChanges(ctx.nft, SMALL, 'nft');
    const largeOld = await fullAndChanges(ctx.nft, LARGE, 'nft');
    await new NftablesBackend().remove(ctx.nft.path);

    await run('nsenter', [`--net=${ctx.ipt.path}`, 'iptables', '-t', 'nat', '-F']);
    const iptFull1k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(SMALL)));
    const iptFull10k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(LARGE)));
    const iptChange10k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(LARGE, { service: CHANGED_SERVICE, without: CHANGED_BACKEND })));
    return {
      nft_empty_batch_ms: median(empty),
      nft_full_1k_ms: small.full,
      nft_full_10k_ms: large.full,
      nft_change_1k_ms: small.change,
      nft_change_10k_ms: large.change,
      nft_change_1k_old_path_ms: smallOld.change,
      nft_change_10k_old_path_ms: largeOld.change,
      iptables_full_1k_ms: iptFull1k,
      iptables_full_10k_ms: iptFull10k,
      iptables_change_10k_ms: iptChange10k,
    };
  },
  async teardown(ctx) {
    await ctx.nft.destroy();
    await ctx.ipt.destroy();
  },
  goals: {
    full_sync_10k_ms: { value: (m) => m.nft_full_10k_ms!, target: '< 1000' },
    one_change_10k_ms: { value: (m) => m.nft_change_10k_ms!, target: '< 10' },
    change_ratio_10k_vs_1k: { value: (m) => m.nft_change_10k_ms! / m.nft_change_1k_ms!, target: '<= 1.5' },
  },
});
