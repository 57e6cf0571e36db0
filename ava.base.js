// Shared ava settings: TypeScript runs through tsx, no build step before tests.
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
