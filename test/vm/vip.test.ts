// The IPVS VIP backend on a kernel that has IPVS (Debian's, in qemu): berth's own end-to-end checks
// and the scenarios every VIP backend must pass (test/integration/vip-scenarios.ts), in one boot
// (test/vm/guest/vip-check.ts). Every named result must be true.
import test from 'ava';
import { guestNode, runInVm, type VmResult } from '../harness/vm.js';

const CHECK_SCRIPT = 'test/vm/guest/vip-check.ts';
const TIMEOUT_MS = 300_000;
const MEMORY_MB = 1536;
/** Beyond the boot set (ip_vs, ip_vs_rr): wrr, conntrack and the nftables pieces the table uses. */
const MODULES = ['ip_vs_wrr', 'nf_conntrack', 'nf_nat', 'nf_tables', 'nft_chain_nat', 'nft_nat', 'nft_fib_ipv4'];
/** Reported, not asserted: figures and the guest's own root namespace. */
const INFO = new Set(['counts', 'elapsedMs', 'hostNamespaceAvailable']);
const OWN_CHECKS = [
  'available',
  'balancedEqual',
  'snatSource',
  'routingMesh',
  'udp',
  'rejectsWithoutBackends',
  'backendChangeKeepsTable',
  'balancedByWeight',
  'idempotent',
  'drainNoNewConnections',
  'drainKeepsEstablished',
  'restartKeepsMarks',
  'restartKeepsEstablished',
  'validationRejects',
  'removedBackendGetsNothing',
  'removedBackendDropsEstablished',
  'serviceRemoved',
  'timeouts',
  'sysctls',
  'bulk',
  'status',
  'removeLeavesForeign',
  'removeIdempotent',
];

function explain(r: VmResult): string {
  return `rc=${r.rc} boot=${r.bootMs}ms total=${r.totalMs}ms\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-6000)}\n--- console (tail) ---\n${r.console.slice(-3000)}`;
}

test('IPVS VIP backend: own checks and the shared VIP scenarios on the guest kernel', async (t) => {
  const r = await runInVm({ command: guestNode(CHECK_SCRIPT), timeoutMs: TIMEOUT_MS, memoryMb: MEMORY_MB, modules: MODULES });
  t.log(`boot ${r.bootMs} ms, total ${r.totalMs} ms`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '{}';
  let results: Record<string, unknown>;
  try {
    results = JSON.parse(line) as Record<string, unknown>;
  } catch {
    t.fail(`no JSON result line\n${explain(r)}`);
    return;
  }
  t.log(JSON.stringify(results.counts));
  for (const c of OWN_CHECKS) t.is(results[c], true, `${c}\n${explain(r)}`);
  for (const [k, v] of Object.entries(results)) {
    if (!INFO.has(k)) t.is(v, true, `${k}: ${JSON.stringify(v)}`);
  }
  t.is(r.rc, 0, explain(r));
});
