// The shared VIP scenarios (vip-scenarios.ts) against the nftables backend on this host (no
// IPVS here; the IPVS backend runs the same file in a qemu guest, test/vm/vip.test.ts). The
// scenarios run once, before the tests; each named result is one test.
import test from 'ava';
import { NftablesBackend } from '../../netd/vip/nftables.js';
import { requireCommand, requireRoot } from '../../scripts/lib/exec.js';
import { runVipScenarios } from './vip-scenarios.js';

/** Every name runVipScenarios reports; a missing one fails its test. */
const SCENARIOS = [
  'vip balances across two nodes',
  'every backend answers',
  'weights respected (3:1)',
  'draining backend: no new connections, established keeps flowing',
  'removing a backend keeps established connections to the others',
  'removed (unhealthy) backend gets no new connections',
  'udp through the vip reaches both backends',
  'routing-mesh port balances',
  'no live backend refuses quickly',
  'apply twice with the same spec changes and resets nothing',
  'remove leaves no berth table behind',
];

let results: Record<string, boolean | string> = {};

// npx/npm put node_modules/.bin first on PATH, and ava brings @vercel/nft, whose CLI is also
// called `nft` (it exits 0 and does nothing): netd/nft.ts spawns plain `nft`. Until it resolves
// the system's nft itself, drop those directories here.
process.env.PATH = (process.env.PATH ?? '').split(':').filter((d) => !d.endsWith('node_modules/.bin')).join(':');

test.before(async (t) => {
  requireRoot('the VIP scenarios');
  requireCommand('nft', 'nftables');
  requireCommand('nsenter', 'util-linux');
  const backend = new NftablesBackend();
  try {
    results = await runVipScenarios(backend, (m) => t.log(m));
  } finally {
    await backend.close();
  }
});

test('the scenarios set up and cleaned up', (t) => {
  t.is(results.setup, undefined, String(results.setup));
  t.deepEqual(
    Object.keys(results).filter((k) => !SCENARIOS.includes(k) && k !== 'setup'),
    [],
    'scenarios this file does not list',
  );
});

for (const name of SCENARIOS) {
  test(name, (t) => {
    t.true(results[name] === true, results[name] === undefined ? 'did not run' : String(results[name]));
  });
}
