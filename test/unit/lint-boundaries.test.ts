// Proves `npm run lint` can fail. The import-boundary check (.dependency-cruiser.cjs, the real
// config) runs over a small stand-in tree in a temp dir: the same top-level folders, stub
// modules, and probe files that break one boundary each. Nothing is written into the project, so
// a failed or killed run leaves nothing behind there; the temp dir is removed in after.always.
// The ESLint half is checked through its API on in-memory text (no file written at all).
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const imports = (...specs: string[]) => `${specs.map((s) => `import '${s}';`).join('\n')}\nexport const probe = 1;\n`;

/** Files every probe can import: the public surfaces and a few internals. */
const STUBS: Record<string, string> = {
  'agent/config.ts': imports(),
  'agent/proto/index.ts': imports(),
  'dns/index.ts': imports('../native/index.js'),
  'dns/name-table.ts': imports(),
  'native/index.ts': imports('../base/index.js'),
  'base/index.ts': imports('./errors.js'),
  'base/errors.ts': imports(),
  'netd/index.ts': imports('./controller/index.js'),
  'netd/ipv4.ts': imports(),
  'netd/errors.ts': imports(),
  'netd/types.ts': imports(),
  'netd/controller/index.ts': imports('../overlay/index.js', '../gossip/index.js', '../ipv4.js'),
  'netd/overlay/index.ts': imports('./peers.js', '../ipv4.js', '../errors.js', '../types.js'),
  'netd/overlay/peers.ts': imports('../ipv4.js'),
  'netd/gossip/index.ts': imports('../ipv4.js', '../errors.js', '../types.js'),
  'test/harness/kit.ts': imports(),
  'scripts/lib/kit.ts': imports('../../netd/index.js'),
  // A stand-in for a package that package.json lists under devDependencies only.
  'node_modules/dns2/package.json': JSON.stringify({ name: 'dns2', version: '0.0.0', main: 'index.js', types: 'index.d.ts' }),
  'node_modules/dns2/index.js': 'module.exports = {};\n',
  'node_modules/dns2/index.d.ts': 'export interface Packet { id: number }\n',
};

/** Files that respect every boundary: the check must pass on them. */
const CLEAN: Record<string, string> = {
  'agent/clean.ts': imports('../netd/index.js', '../dns/index.js', '../native/index.js', '../base/index.js', './config.js', './proto/index.js'),
  'agent/clean-types.ts': "import type { Packet } from 'dns2';\nexport type P = Packet;\n",
  'dns/clean.ts': imports('../native/index.js', '../netd/index.js', '../base/index.js'),
  'scripts/clean.ts': imports('./lib/kit.js', '../netd/index.js', '../agent/config.js'),
  // Tests are white-box: any internal is fair game.
  'test/white-box.test.ts': imports('../netd/overlay/peers.js', '../netd/gossip/index.js', '../agent/config.js', '../dns/name-table.js', '../scripts/lib/kit.js', './harness/kit.js'),
};

/** One probe per boundary: file, what it imports, and the rule that must name it. */
const PROBES: Array<{ file: string; spec: string; to: string; rule: string }> = [
  { file: 'netd/probe-agent.ts', spec: '../agent/config.js', to: 'agent/config.ts', rule: 'netd-dns-not-agent' },
  { file: 'dns/probe-agent.ts', spec: '../agent/config.js', to: 'agent/config.ts', rule: 'netd-dns-not-agent' },
  { file: 'agent/probe-netd-overlay.ts', spec: '../netd/overlay/index.js', to: 'netd/overlay/index.ts', rule: 'netd-only-through-index' },
  { file: 'scripts/probe-netd-gossip.ts', spec: '../netd/gossip/index.js', to: 'netd/gossip/index.ts', rule: 'netd-only-through-index' },
  { file: 'agent/probe-dns-internal.ts', spec: '../dns/name-table.js', to: 'dns/name-table.ts', rule: 'only-through-index' },
  { file: 'netd/probe-gossip.ts', spec: './gossip/index.js', to: 'netd/gossip/index.ts', rule: 'netd-subsystems-only-from-controller' },
  { file: 'netd/overlay/probe-controller.ts', spec: '../controller/index.js', to: 'netd/controller/index.ts', rule: 'netd-subsystems-not-controller' },
  { file: 'netd/gossip/probe-overlay.ts', spec: '../overlay/peers.js', to: 'netd/overlay/peers.ts', rule: 'netd-gossip-overlay-independent' },
  { file: 'netd/overlay/probe-gossip.ts', spec: '../gossip/index.js', to: 'netd/gossip/index.ts', rule: 'netd-gossip-overlay-independent' },
  { file: 'base/probe-dns.ts', spec: '../dns/index.js', to: 'dns/index.ts', rule: 'base-imports-nothing' },
  { file: 'scripts/probe-test.ts', spec: '../test/harness/kit.js', to: 'test/harness/kit.ts', rule: 'product-not-test' },
  { file: 'agent/probe-test.ts', spec: '../test/harness/kit.js', to: 'test/harness/kit.ts', rule: 'product-not-test' },
  { file: 'agent/probe-dev-dep.ts', spec: 'dns2', to: 'node_modules/dns2/index.js', rule: 'product-no-dev-dependencies' },
  { file: 'agent/probe-missing.ts', spec: './missing.js', to: './missing.js', rule: 'resolvable' },
];

interface Violation {
  severity: string;
  rule: string;
  from: string;
  to: string;
}

let dir = '';

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-lint-boundaries-'));
  copyFileSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  // The real package.json: its dependency lists decide what counts as a dev dependency.
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  const files = { ...STUBS, ...CLEAN, ...Object.fromEntries(PROBES.map((p) => [p.file, imports(p.spec)])) };
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function depcruise(...args: string[]): Promise<{ code: number; out: string; violations: Violation[] }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', ...args],
      { cwd: dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (code === -1) return reject(new Error(`depcruise did not run: ${err?.message}\n${stderr}`));
        const out = `${stdout}${stderr}`;
        const violations = [...out.matchAll(/^\s*(error|warn|info) ([\w-]+): (\S+) → (\S+)\s*$/gmu)].map(([, severity, rule, from, to]) => ({ severity: severity!, rule: rule!, from: from!, to: to! }));
        resolve({ code, out, violations });
      },
    );
  });
}

test('the boundary check fails on each probe, naming the rule it breaks, and passes the clean files', async (t) => {
  const { code, out, violations } = await depcruise('.');
  t.not(code, 0, out);
  for (const p of PROBES) {
    const hit = violations.filter((v) => v.from === p.file && v.to === p.to);
    t.true(
      hit.some((v) => v.rule === p.rule && v.severity === 'error'),
      `${p.file} → ${p.to}: expected rule ${p.rule}, got ${JSON.stringify(hit.map((v) => v.rule))}\n${out}`,
    );
  }
  const clean = new Set([...Object.keys(STUBS), ...Object.keys(CLEAN)]);
  t.deepEqual(
    violations.filter((v) => clean.has(v.from)),
    [],
    'stub and clean files break no boundary',
  );
  t.regex(out, /x \d+ dependency violations/u);
});

test('the boundary check passes when only clean files are given', async (t) => {
  const { code, out, violations } = await depcruise(...Object.keys(CLEAN));
  t.deepEqual(violations, [], out);
  t.is(code, 0, out);
  t.regex(out, /no dependency violations found/u);
});

test('ESLint applies the TypeScript rules to the source folders and skips generated code', async (t) => {
  const eslint = new ESLint({ cwd: ROOT });
  const [bad] = await eslint.lintText('export const x: any = 1;\n', { filePath: join(ROOT, 'netd', '__lint_probe__.ts') });
  t.true(bad?.messages.some((m) => m.ruleId === '@typescript-eslint/no-explicit-any'), JSON.stringify(bad?.messages));
  const [good] = await eslint.lintText('export const x: number = 1;\n', { filePath: join(ROOT, 'netd', '__lint_probe__.ts') });
  t.deepEqual(good?.messages, []);
  t.true(await eslint.isPathIgnored(join(ROOT, 'agent', 'proto', 'gen', 'ca.ts')));
  t.false(await eslint.isPathIgnored(join(ROOT, 'agent', 'agent.ts')));
});
