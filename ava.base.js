// Shared ava settings: TypeScript runs through tsx, no build step before tests.
export function suite(dir, extra = {}) {
  return {
    files: [`test/${dir}/**/*.test.ts`],
    extensions: { ts: 'module' },
    nodeArguments: ['--import=tsx'],
    timeout: '5m',
    verbose: true,
    ...extra,
  };
}
