// V8's heap flags for agentd, the one place that sets them: at run time, first thing in the entry
// point (agentd.ts imports this module before anything else), so the package's /usr/bin wrapper,
// the harness, the suites and the benchmarks, which all run agentd.js, run it alike. V8 reads
// these flags each time it sizes a space, so setting them before anything allocates much is as
// good as the command line.
//
// V8 grows the young generation (two semi-spaces) from 1 MiB up to 16 MiB each as soon as a burst
// survives scavenges — module loading at start does — and keeps it: 32 MiB committed and resident
// in an agent that then idles. Held at its initial size, scavenges run more often during bursts
// and each is cheaper; agentd's RSS fell 12–20 MB joined, idle or with 1,000 tasks.
//
// Measured and not kept (`npm run bench -- footprint`, 10,000 remote endpoints): optimize-for-size
// (RSS 124 against 188 MB, but idle CPU 3.7 against 1.7 % of a core: its GCs ran all the time);
// heap-growing-percent=10 or 20 (RSS 136–164 MB, CPU no better). heap-reducer.ts does what they
// were for, one full GC after a burst. Later (one run each against 128 MB): max-opt=2, Maglev
// without TurboFan (119 MB, and 82 against 98 MB joined and idle: TurboFan's code and the
// binary's pages it runs from), but idle CPU 1.33 against 1.15 % of a core, past the goal of 1 %
// — slower code for the bulk syncs, and the DNS answers would run on it too; no-maglev (133 MB).
import v8 from 'node:v8';

/** V8 flags agentd runs with (set at run time; see above). */
export const AGENTD_V8_FLAGS = ['--semi-space-growth-factor=1'] as const;

for (const flag of AGENTD_V8_FLAGS) v8.setFlagsFromString(flag);
