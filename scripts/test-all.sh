#!/usr/bin/env bash
# Runs the lint (ESLint + import boundaries) and every suite (unit, integration, interop, vm)
# even when one fails, then fails if the lint or any suite failed or could not run (ava exits
# non-zero when it finds no test file).
set -uo pipefail
cd "$(dirname "$0")/.."
# Every suite on the pinned Node (scripts/node.pin), however this script was started.
. scripts/node-env.sh || exit 1
echo "node $(node --version) ($(command -v node))"

suites=(unit integration interop vm)
failed_suites=()
passed_tests=0
failed_tests=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "=== lint ==="
npm run -s lint
lint_rc=$?
[ "$lint_rc" != 0 ] && failed_suites+=(lint)

for s in "${suites[@]}"; do
  echo "=== suite: $s ==="
  npx ava --config "ava.$s.config.js" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(grep -cE '^\s*✔' "$out" || true)
  f=$(grep -cE '^\s*✘' "$out" || true)
  passed_tests=$((passed_tests + p))
  failed_tests=$((failed_tests + f))
  if [ "$rc" != 0 ]; then
    failed_suites+=("$s")
    [ "$f" = 0 ] && failed_tests=$((failed_tests + 1))
  fi
done
echo
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failed or could not run: ${failed_suites[*]}"
fi
echo "lint: $([ "$lint_rc" = 0 ] && echo passed || echo failed)"
echo "tests: ${passed_tests} passed, ${failed_tests} failed"
[ ${#failed_suites[@]} -eq 0 ]
