// glibc malloc as agentd needs it. A gossip bulk sync of a 10,000-endpoint network moves
// megabyte Buffers every 30 s (read, decrypted, decoded; encoded, encrypted, sent). glibc keeps
// what they free: its mmap threshold rises to the largest block freed (up to 32 MiB), so the next
// ones come from the heap, and a free block in the middle of a heap is never given back; each
// thread that allocates may get an arena of its own. agentd's RSS at 10,000 endpoints held tens
// of MB of freed heap (`npm run bench -- footprint`). So: a fixed threshold (large Buffers are
// mmapped and unmapped when V8 frees them), two arenas, and after each full GC — when V8 has just
// released the dead Buffers — the free pages go back to the kernel (malloc_trim).
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { releaseFreeMemory, tuneMalloc } from '../../native/index.js';
import type { LogFn } from '../log.js';

/** glibc's own starting threshold, held there. */
const MMAP_THRESHOLD_BYTES = 128 * 1024;
/** The main thread's arena and one for all of V8's and libuv's worker threads. */
const ARENA_MAX = 2;
/** malloc_trim walks every free block: at most once per this, however often V8 collects. */
const TRIM_MIN_INTERVAL_MS = 10_000;

/** Applies the settings; a missing addon or a refused setting only costs memory (logged). */
export function tuneAgentdMalloc(log: LogFn): void {
  try {
    if (!tuneMalloc(MMAP_THRESHOLD_BYTES, ARENA_MAX)) log('debug', 'malloc refused the mmap threshold or arena count: RSS may stay high after gossip bulk syncs');
  } catch (err) {
    log('warn', 'could not tune malloc (the native addon did not load): RSS may stay high after gossip bulk syncs', { err: (err as Error).message });
    return;
  }
  let lastTrim = 0;
  const observer = new PerformanceObserver((list) => {
    const now = performance.now();
    if (now - lastTrim < TRIM_MIN_INTERVAL_MS) return;
    if (!list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) return;
    lastTrim = now;
    releaseFreeMemory();
  });
  observer.observe({ entryTypes: ['gc'] });
}
