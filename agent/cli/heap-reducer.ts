// A full GC that gives memory back, once garbage has piled up, for an agent that idles between
// bursts. V8 collects the old generation only at a limit set at up to 4x the live size after the
// last full GC, Buffers that outlived a scavenge (a gossip bulk sync's megabyte frames, held across
// the socket's reads and writes) are freed only then, and the pages a full GC empties are kept in
// V8's pool, resident. agentd at 10,000 remote endpoints held ~90 MB of heap for ~50 MB live, plus
// 20-35 MB of dead Buffers, for as long as it idled, and after an ordinary full GC still ~50 MB of
// pooled pages (`npm run bench -- footprint`). V8's memory reducer would release them, but it
// starts only after a full GC that an idle process never reaches. optimize-for-size did the job
// and doubled the idle CPU at 10,000 endpoints (its GCs ran all the time); a plain major gc()
// every time the heap grew cost as much and released little (the pool stays).
// So every CHECK_INTERVAL_MS a look at the heap (no allocation), and, when what is held has grown
// past the last collection's result by a margin, one "last resort" full GC — V8's
// CollectAllAvailableGarbage, which also empties the page pool — at most once per
// MIN_COLLECTION_INTERVAL_MS: a quiet agent never collects, one that just took a burst collects
// once, shortly after it. malloc.ts then trims glibc's free pages.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance } from 'node:perf_hooks';
import type { LogFn } from '../log.js';

/** How often the heap is looked at. */
const CHECK_INTERVAL_MS = 10_000;
/** Growth past the last collection's result that is worth a full GC: a fraction of it... */
const GROWTH_FRACTION = 0.25;
/** ...plus a floor, so a small heap's ordinary churn never triggers one. */
const GROWTH_FLOOR_BYTES = 16 * 1024 * 1024;
/** A last-resort GC runs several full GCs in a row (~25 ms of CPU for a small heap, a few times
 *  that for 50 MB live): never more often than this. */
const MIN_COLLECTION_INTERVAL_MS = 30_000;

/** What the heap holds: V8's objects and the memory of Buffers they keep (external). */
export interface HeapHeld {
  usedBytes: number;
  externalBytes: number;
}

/** Pure: whether `now` has grown enough past `afterLastCollection` to collect. */
export function shouldCollect(now: HeapHeld, afterLastCollection: HeapHeld): boolean {
  const held = now.usedBytes + now.externalBytes;
  const base = afterLastCollection.usedBytes + afterLastCollection.externalBytes;
  return held > base * (1 + GROWTH_FRACTION) + GROWTH_FLOOR_BYTES;
}

function heldNow(): HeapHeld {
  const s = v8.getHeapStatistics();
  return { usedBytes: s.used_heap_size, externalBytes: s.external_memory };
}

/** V8's gc() without exposing it to the process: taken from a context of its own. Called as a
 *  last-resort major GC, the one flavour that also releases V8's pooled pages. */
function fullGcFunction(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as (opts: object) => void)({ type: 'major', flavor: 'last-resort' }) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Starts the checks (an unref'd timer); returns a stop function. Without gc() (it could not be
 *  had) only costs memory: logged once. */
export function startHeapReducer(log: LogFn): () => void {
  const gc = fullGcFunction();
  if (!gc) {
    log('debug', "V8's gc() could not be had: the heap shrinks only when V8 collects on its own");
    return () => undefined;
  }
  let base = heldNow();
  // The most held since our last collection: a full GC V8 ran on its own meanwhile lowers what is
  // held now, but not the pages it pooled, so a burst is judged by its peak.
  let peak = base;
  let collections = 0;
  let lastCollection = -Infinity;
  const timer = setInterval(() => {
    const now = heldNow();
    if (now.usedBytes + now.externalBytes > peak.usedBytes + peak.externalBytes) peak = now;
    if (!shouldCollect(peak, base) || performance.now() - lastCollection < MIN_COLLECTION_INTERVAL_MS) return;
    gc();
    lastCollection = performance.now();
    base = peak = heldNow();
    collections++;
    log('debug', 'heap collected after growth', { collections, heldBeforeMb: Math.round((now.usedBytes + now.externalBytes) / 1048576), heldAfterMb: Math.round((base.usedBytes + base.externalBytes) / 1048576) });
  }, CHECK_INTERVAL_MS).unref();
  return () => clearInterval(timer);
}
