// `npm run bench -- vip`: the nftables VIP backend at scale, in fresh namespaces: a full sync of
// 1,000 and 10,000 services × 10 backends, and the latency of one backend change at 1,000 and
// at 10,000 services (median of CHANGES; alternately removing and re-adding one backend, which
// rewrites its bucket chain and slot elements). The floor: one `nft -f -` spawn of an empty
// batch. Baseline in the same run: kube-proxy's iptables mode — a nat chain per service with one
// `-m statistic --mode random --probability` DNAT rule per backend, loaded with
// `iptables-restore --noflush`. kube-proxy's classic sync writes the whole nat ruleset on every
// change (since 1.27 MinimizeIPTablesRestore writes only changed chains, but every service still
// costs a full restore after a resync), so one iptables change here = one full restore.
// Goals: 10,000×10 full sync < 1000 ms; one change < 10 ms; change at 10,000 ≤ 1.5 × at 1,000.
import { runNft } from '../../netd/nft.js';
import { NftablesBackend } from '../../netd/vip/nftables.js';
import type { LbService, LoadBalancerSpec } from '../../netd/vip/types.js';
import { run } from '../../scripts/lib/exec.js';
import { createNetns } from '../../scripts/lib/hosts.js';
import { defineBenchmark } from './types.js';

const BACKENDS = 10;
const SMALL = 1_000;
const LARGE = 10_000;
const CHANGES = 20;
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

function services(count: number, extra?: { service: number; without: number }): LbService[] {
  return Array.from({ length: count }, (_, s) => ({
    key: `svc${s}`,
    vip: vipOf(s),
    ports: [],
    backends: Array.from({ length: BACKENDS }, (_, b) => ({ ip: backendOf(s, b), weight: 1 })).filter((_, b) => !(extra?.service === s && extra.without === b)),
  }));
}

function spec(ns: Ns, svcs: LbService[]): LoadBalancerSpec {
  return { netnsPath: ns.path, sourceAddress: SOURCE, subnet: SUBNET, services: svcs };
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

/** One backend change at a time (remove backend 3 of service 7, put it back, …): median ms. */
async function changeLatency(backend: NftablesBackend, ns: Ns, count: number): Promise<number> {
  const full = services(count);
  const less = services(count, { service: 7, without: 3 });
  const samples: number[] = [];
  for (let i = 0; i < CHANGES; i++) samples.push(await timed(() => backend.apply(spec(ns, i % 2 === 0 ? less : full))));
  return median(samples);
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
  description: `nftables VIP backend: full sync ${SMALL}×${BACKENDS} and ${LARGE}×${BACKENDS}, one backend change at ${SMALL} and ${LARGE} services; kube-proxy iptables-restore baseline`,
  runs: 3,
  async setup() {
    return { nft: await createNetns('bvn'), ipt: await createNetns('bvi') };
  },
  async measure(ctx) {
    const empty: number[] = [];
    for (let i = 0; i < CHANGES; i++) empty.push(await timed(() => runNft('', { netnsPath: ctx.nft.path })));

    // A new backend each time: its first apply replaces the table whole, as after a restart.
    const small = new NftablesBackend();
    const nftFull1k = await timed(() => small.apply(spec(ctx.nft, services(SMALL))));
    const nftChange1k = await changeLatency(small, ctx.nft, SMALL);
    const large = new NftablesBackend();
    const nftFull10k = await timed(() => large.apply(spec(ctx.nft, services(LARGE))));
    const nftChange10k = await changeLatency(large, ctx.nft, LARGE);
    await large.remove(ctx.nft.path);

    await run('nsenter', [`--net=${ctx.ipt.path}`, 'iptables', '-t', 'nat', '-F']);
    const iptFull1k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(SMALL)));
    const iptFull10k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(LARGE)));
    const iptChange10k = await timed(() => iptablesRestore(ctx.ipt, iptablesRules(LARGE, { service: 7, without: 3 })));
    return {
      nft_empty_batch_ms: median(empty),
      nft_full_1k_ms: nftFull1k,
      nft_full_10k_ms: nftFull10k,
      nft_change_1k_ms: nftChange1k,
      nft_change_10k_ms: nftChange10k,
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
