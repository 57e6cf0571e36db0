#!/usr/bin/env bash
# Runs the lint (ESLint, import boundaries, type check) and every suite (unit, integration,
# interop, vm, cluster) even when one fails, then fails if the lint or any suite failed or could
# not run (ava exits non-zero when it finds no test file).
set -uo pipefail
cd "$(dirname "$0")/.."
# Every suite on the pinned Node (scripts/node.pin), however this script was started.
. scripts/node-env.sh || exit 1
echo "node $(node --version) ($(command -v node))"

suites=(unit integration interop vm cluster)
failed_suites=()
passed_tests=0
failed_tests=0
out=$(mktemp)
failures=$(mktemp)
trap 'rm -f "$out" "$failures"' EXIT

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
    # CI keeps only the tail of the output: the failed tests and the start of ava's report on
    # each are repeated at the end, where a reader of the tail finds them.
    {
      echo "--- $s: failed tests ---"
      grep -E '^\s*✘' "$out" || echo "(no ✘ line: ava exited $rc)"
      awk '/^  ─$/ {report = 1} report' "$out" | grep -v '^\s*ℹ' | head -n 60
    } >> "$failures"
  fi
done
echo
cat "$failures"
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failed or could not run: ${failed_suites[*]}"
fi
echo "lint: $([ "$lint_rc" = 0 ] && echo passed || echo failed)"
echo "tests: ${passed_tests} passed, ${failed_tests} failed"
[ ${#failed_suites[@]} -eq 0 ]
