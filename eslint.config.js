// ESLint flat config, run by `npm run lint` (after the import-boundary check in
// .dependency-cruiser.cjs). ESLint's and typescript-eslint's recommended rules over the source
// folders (agent netd dns native base test scripts); plain JS (VM guest checks, root tool
// configs) gets the JS rules. Not type-aware on purpose: building the type program made the
// lint ~2.5x slower (25 s vs 11 s on 2 cores); `npm run typecheck` covers types.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Generated (npm run gen:proto), built, vendored or cached: not ours to lint.
    ignores: ['agent/proto/gen/', 'dist/', 'native/build/', '.cache/', '**/node_modules/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    files: ['{agent,netd,dns,native,base,test,scripts}/**/*.{ts,mts,cts}'],
    extends: [tseslint.configs.recommended],
    rules: {
      // The code marks a deliberately unused binding with a leading `_` (callback shapes, destructuring).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // What agentd runs: locale-aware comparison loads ICU's collator, whose data (~2 MB of the
    // Node binary) then stays resident in a long-lived process for orders that need no locale.
    files: ['{agent,netd,dns,native,base}/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error', { property: 'localeCompare', message: "Use byCodeUnit (base/): a locale's collation is not needed for berth's orders and keeps ICU's collation data resident." }],
    },
  },
  {
    // Plain JS that runs under Node: the VM guest checks and the root tool configs.
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
