// Shared ava settings: test files run through tsx; agentd and agentctl run from dist/ (the
// harness, scripts/lib/built.ts, rebuilds it when a source is newer). Run on the pinned Node:
// the npm scripts put it first on PATH (scripts/node-env.sh).
export function suite(dir, extra = {}) {
  return {
    files: [`test/${dir}/**/*.test.ts`],
    extensions: { ts: 'module' },
    nodeArguments: ['--import=tsx'],
    // Child processes, not worker threads: the tsx loader hook must be registered per process.
    workerThreads: false,
    timeout: '5m',
    verbose: true,
    ...extra,
  };
}
