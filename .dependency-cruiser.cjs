// Import boundaries between berth's top-level folders, checked by `npm run lint`
// (dependency-cruiser; paths are relative to the project root).
//
// Product code: agent/ netd/ dns/ native/ base/ (and scripts/, which ships the quickstart).
// A top-level folder's index.ts is its public surface; everything else in it is internal.
//
// test/ is exempt on purpose: tests are white-box and sit beside the code in intent, like Go
// tests, so they may import any module's internals. The boundaries are for product code.
//
// To see every edge a rule judged: npx depcruise --config .dependency-cruiser.cjs --output-type text .

/** Top-level product folders that have an index.ts as their public surface. */
const PRODUCT = '(agent|netd|dns|native|base)';
/** netd's subsystems, each a folder the controller drives: overlay, gossip, vip (load balancers), nat (host rules). */
const NETD_SUBSYSTEM = 'netd/(overlay|gossip|vip|nat)(/|[.]ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'netd-dns-not-agent',
      comment: 'netd/ and dns/ are libraries the agent uses; they never import agent/.',
      severity: 'error',
      from: { path: '^(netd|dns)/' },
      to: { path: '^agent/' },
    },
    {
      name: 'netd-only-through-index',
      comment:
        'Outside netd/, import netd only through netd/index.ts (its controller, overlay and gossip are internals). ' +
        'Export what you need from netd/index.ts instead.',
      severity: 'error',
      from: { pathNot: '^(netd|test)/' },
      to: { path: '^netd/', pathNot: '^netd/index[.]ts$' },
    },
    {
      name: 'only-through-index',
      comment:
        "A product folder imports another top-level folder only through that folder's index.ts " +
        '(e.g. dns/ -> ../native/index.js, never ../native/<internal>.js). netd targets are reported by netd-only-through-index.',
      severity: 'error',
      from: { path: `^${PRODUCT}/` },
      to: { path: '^(agent|dns|native|base)/', pathNot: [`^$1/`, `^${PRODUCT}/index[.]ts$`] },
    },
    {
      name: 'netd-subsystems-only-from-controller',
      comment:
        'Inside netd/, only netd/controller/** (and netd/index.ts) import netd/overlay/** and netd/gossip/**; ' +
        'shared helpers (ipv4.ts, errors.ts, types.ts, ...) live at netd/ top level.',
      severity: 'error',
      from: { path: '^netd/', pathNot: [`^netd/(controller/|index[.]ts$)`, `^${NETD_SUBSYSTEM}`] },
      to: { path: `^${NETD_SUBSYSTEM}` },
    },
    {
      name: 'netd-subsystems-not-controller',
      comment: 'netd/overlay and netd/gossip are driven by netd/controller; they never import it.',
      severity: 'error',
      from: { path: `^${NETD_SUBSYSTEM}` },
      to: { path: '^netd/controller/' },
    },
    {
      name: 'netd-gossip-overlay-independent',
      comment:
        'netd/gossip and netd/overlay do not import each other; what they share sits at netd/ top level ' +
        '(ipv4.ts, errors.ts, types.ts) and the controller wires them together.',
      severity: 'error',
      from: { path: `^${NETD_SUBSYSTEM}` },
      to: { path: `^${NETD_SUBSYSTEM}`, pathNot: '^netd/$1(/|[.]ts$)' },
    },
    {
      name: 'base-imports-nothing',
      comment: 'base/ holds shared errors, the log type and defaults; it imports nothing of the project.',
      severity: 'error',
      from: { path: '^base/' },
      to: { path: '^(agent|netd|dns|native|test|scripts)/' },
    },
    {
      name: 'product-not-test',
      comment:
        'Product code and scripts never import test/ (harnesses, fixtures). Shared local-cluster helpers live in scripts/lib/.',
      severity: 'error',
      from: { path: `^(${PRODUCT.slice(1, -1)}|scripts)/` },
      to: { path: '^test/' },
    },
    {
      name: 'product-no-dev-dependencies',
      comment:
        'Product code must run with production dependencies only: a package it imports belongs in "dependencies" ' +
        '(type-only imports are fine).',
      severity: 'error',
      from: { path: `^${PRODUCT}/` },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'resolvable',
      comment:
        'An import the checker cannot resolve cannot be checked against the rules above (and will not run): fix the path.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Cruise the source folders (`depcruise .`); not generated code, build output or root tool configs.
    // (No includeOnly: it would also drop unresolvable imports, which then could not be reported.)
    exclude: { path: ['^(agent/proto/gen|native/build|dist|[.]cache|docs)/', '^[^/]+[.](js|cjs|mjs)$'] },
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
