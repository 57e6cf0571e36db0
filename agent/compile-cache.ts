// Where agentd keeps Node's compile cache (V8 bytecode of its modules, keyed by file and
// content, so a new package version never runs stale code). Half of agentd's start-up CPU is
// compiling its modules; with the cache a restart skips it.

/** systemd's CacheDirectory=berth (the unit) and tmpfiles.d make it, root-only. */
export const DEFAULT_COMPILE_CACHE_DIR = '/var/cache/berth/compile-cache';

/**
 * The cache directory, or undefined for none: BERTH_COMPILE_CACHE names another directory, or
 * turns it off with "off" or ""; NODE_COMPILE_CACHE (Node's own) wins when set, as Node has
 * already enabled it.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.NODE_COMPILE_CACHE) return env.NODE_COMPILE_CACHE;
  const own = env.BERTH_COMPILE_CACHE;
  if (own === undefined) return DEFAULT_COMPILE_CACHE_DIR;
  return own === '' || own === 'off' ? undefined : own;
}
