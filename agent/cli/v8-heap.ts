// V8's heap as agentd needs it: an agent that idles for weeks between short bursts (start-up, an
// assignment set, a gossip bulk sync every 30 s). The one place that sets agentd's V8 flags: they
// are set here, at run time, first thing in the entry point (agentd.ts imports this module before
// anything else), so the package's /usr/bin wrapper, the harness, the suites and the benchmarks,
// which all run agentd.js, run it alike. V8 reads these flags each time it sizes a space or sets a
// limit, so setting them before anything allocates much is as good as the command line.
//
// - The young generation (two semi-spaces) grows from 1 MiB up to 16 MiB each as soon as a burst
//   survives scavenges — module loading at start does — and stays so: 32 MiB committed and
//   resident in an agent that then idles. Held at its initial size, scavenges run more often
//   during bursts and each is cheaper; agentd's RSS fell 12–20 MB joined, idle or with 1,000 tasks.
// - The old generation's next limit is set after each full GC at up to 4× the live size (V8 picks
//   the factor by how fast the mutator allocates), and freed pages are kept for reuse. What a bulk
//   sync of a 10,000-endpoint network leaves every 30 s (decoded events, megabyte Buffers) piled up
//   between full GCs: 100 MB of heap used for 55 MB live. optimize-for-size caps the growth lower,
//   lets the memory reducer shrink the heap once the burst is over and gives pages back sooner.
//   `npm run bench -- footprint` at 10,000 endpoints, one run each on a loaded machine: RSS 128 MB
//   (heap 53–57 MB after each sync) against 204–212 MB without it (heap up to 105 MB). A fixed
//   `--heap-growing-percent=10` beside it gave 136 MB: no better, and more full GCs.
import v8 from 'node:v8';

/** V8 flags agentd runs with (set at run time; see above). */
export const AGENTD_V8_FLAGS = ['--semi-space-growth-factor=1'] as const;

for (const flag of AGENTD_V8_FLAGS) v8.setFlagsFromString(flag);
