// A full GC once garbage has piled up, for an agent that idles between bursts. V8 collects the
// old generation only when it reaches a limit set at up to 4× the live size after the last full
// GC, and Buffers that outlived a scavenge (a gossip bulk sync's megabyte frames, held across the
// socket's reads and writes) are freed only then: agentd at 10,000 remote endpoints held ~90 MB of
// heap for ~50 MB live, plus 20–35 MB of dead Buffers, for as long as it idled
// (`npm run bench -- footprint`). V8's memory reducer would shrink this, but it starts only
// after a full GC that an idle process never reaches. V8's optimize-for-size did shrink it, and
// doubled the idle CPU at 10,000 endpoints (its GCs ran all the time): measured, not kept.
// So every CHECK_INTERVAL_MS a look at the heap (no allocation), and one full GC when what is
// held has grown past the last collection's result by a margin: a quiet agent never collects,
// one that just took a burst collects once, shortly after it. The collection's pages and the
// Buffers' mappings go back to the kernel; malloc.ts then trims glibc's free pages.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { LogFn } from '../log.js';

/** How often the heap is looked at. */
const CHECK_INTERVAL_MS = 10_000;
/** Growth past the last collection's result that is worth a full GC: a fraction of it... */
const GROWTH_FRACTION = 0.15;
/** ...plus a floor, so a small heap's ordinary churn never triggers one. */
const GROWTH_FLOOR_BYTES = 8 * 1024 * 1024;

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

/** V8's gc() without exposing it to the process: taken from a context of its own. */
function fullGcFunction(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
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
  let collections = 0;
  const timer = setInterval(() => {
    const now = heldNow();
    // A collection V8 ran on its own (or garbage that went young) lowers the mark.
    if (now.usedBytes + now.externalBytes < base.usedBytes + base.externalBytes) {
      base = now;
      return;
    }
    if (!shouldCollect(now, base)) return;
    gc();
    base = heldNow();
    collections++;
    log('debug', 'heap collected after growth', { collections, heldBeforeMb: Math.round((now.usedBytes + now.externalBytes) / 1048576), heldAfterMb: Math.round((base.usedBytes + base.externalBytes) / 1048576) });
  }, CHECK_INTERVAL_MS).unref();
  return () => clearInterval(timer);
}
