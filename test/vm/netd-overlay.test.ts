// The overlay data plane's core checks inside qemu, on Debian's own kernel: proves netd is not
// tied to the host's kernel. One boot runs every check (test/vm/guest/netd-overlay-check.ts).
import test from 'ava';
import { guestNode, runInVm, type VmResult } from '../harness/vm.js';

const CHECK_SCRIPT = 'test/vm/guest/netd-overlay-check.ts';
const TIMEOUT_MS = 240_000;
const MEMORY_MB = 1536;
const CHECKS = ['sameNetworkA', 'sameNetworkB', 'isolated', 'twoNetworks', 'ifnames', 'tcpdumpVni', 'endpointRemoved', 'bulkLeavesNothing', 'restartNoLoss', 'restartCleaned'];

function explain(r: VmResult): string {
  return `rc=${r.rc} boot=${r.bootMs}ms total=${r.totalMs}ms\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-4000)}\n--- console (tail) ---\n${r.console.slice(-3000)}`;
}

test('overlay checks pass on the guest kernel', async (t) => {
  const r = await runInVm({ command: guestNode(CHECK_SCRIPT), timeoutMs: TIMEOUT_MS, memoryMb: MEMORY_MB });
  t.log(`boot ${r.bootMs} ms, total ${r.totalMs} ms`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '{}';
  const results = JSON.parse(line) as Record<string, unknown>;
  t.log(JSON.stringify(results));
  t.is(results.error, undefined, explain(r));
  for (const c of CHECKS) t.is(results[c], true, `${c}\n${explain(r)}`);
  t.is(r.rc, 0, explain(r));
});
