#!/usr/bin/env node
// agentd's entry point. It only sets V8's heap flags (first: before module loading grows
// it) and turns on Node's compile cache, before any other module of berth loads, so that every
// later start reuses the bytecode of the previous one; agentd-main.js is agentd itself.
import './v8-heap.js';
import { enableCompileCache, flushCompileCache } from 'node:module';
import { compileCacheDir } from '../compile-cache.js';

/** Start-up, including the modules it loads lazily, is over well within this. */
const FLUSH_AFTER_MS = 5_000;

const dir = compileCacheDir(process.env);
if (dir !== undefined) {
  // A cache that cannot be opened (read-only disk, not root) only means a slower start.
  enableCompileCache(dir);
  // Node writes the cache when the process exits; agentd runs for weeks and may be killed, so
  // it is written once start-up has loaded what it needs.
  globalThis.setTimeout(() => flushCompileCache(), FLUSH_AFTER_MS).unref();
}
await import('./agentd-main.js');
