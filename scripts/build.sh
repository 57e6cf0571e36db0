#!/usr/bin/env bash
# Builds dist/: the layout agentd and agentctl run from, in the repository (the suites, the
# quickstart) and in the package (/usr/lib/berth is dist/ plus node_modules and the runtime).
# Everything agentd reads at run time is resolved relative to its own modules, so dist/ holds:
#   package.json                         name, version, "type": "module", runtime dependencies
#   agent/ netd/ dns/ base/ native/      the compiled JavaScript
#   agent/proto/swarm-api.json (the SwarmKit descriptor; the .proto files too, for reference),
#   netd/gossip/networkdb.proto          beside the modules that load them
#   native/build/Release/berth_native.node             the N-API addon (scripts/build-native.sh)
#   images/pause.tar                     the sandbox image agentd imports when the engine lacks it
# Usage: build.sh [--if-stale]   --if-stale: nothing to do when no input is newer than dist/.
# Built into a fresh directory and swapped in, so no stale module survives a rebuild.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST=dist
STAMP="$DIST/.built"
ADDON=native/build/Release/berth_native.node
PAUSE_TAR=.cache/images/pause.tar

die() { echo "build: $*" >&2; exit 1; }

# One build at a time (test processes, the package, setup may ask at once); a waiter then finds
# dist/ fresh and, with --if-stale, does nothing.
mkdir -p .cache
exec 9>.cache/build.lock
flock 9

inputs=(agent netd dns base native/index.ts package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build.sh "$ADDON" "$PAUSE_TAR")
if [[ "${1:-}" == --if-stale && -f "$STAMP" ]]; then
  newer=$(find "${inputs[@]}" -newer "$STAMP" -not -path 'agent/proto/gen/*' -print -quit 2>/dev/null || true)
  missing=0
  for f in "$ADDON" "$PAUSE_TAR"; do [[ -e "$f" ]] || missing=1; done
  [[ -z "$newer" && "$missing" == 0 ]] && exit 0
fi

[[ -f "$ADDON" ]] || die "$ADDON missing: run \`npm run build:native\` (npm run setup does it)"
bash scripts/build-images.sh pause >/dev/null
[[ -f "$PAUSE_TAR" ]] || die "$PAUSE_TAR missing after scripts/build-images.sh pause"

out="$DIST.tmp.$$"
trap 'rm -rf "$out"' EXIT
rm -rf "$out"
echo "build: tsc -> $DIST/" >&2
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$out"
for p in agent/proto/*.proto agent/proto/swarm-api.json netd/gossip/*.proto; do
  mkdir -p "$out/$(dirname "$p")"
  cp "$p" "$out/$p"
done
mkdir -p "$out/native/build/Release" "$out/images"
cp "$ADDON" "$out/$ADDON"
cp "$PAUSE_TAR" "$out/images/pause.tar"
node -e '
  const pkg = require("./package.json");
  const keep = { name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, private: true, type: pkg.type, engines: pkg.engines, dependencies: pkg.dependencies };
  require("node:fs").writeFileSync(process.argv[1], JSON.stringify(keep, null, 2) + "\n");
' "$out/package.json"
touch "$out/.built"
old="$DIST.old.$$"
[[ -d "$DIST" ]] && mv "$DIST" "$old"
mv "$out" "$DIST"
rm -rf "$old"
trap - EXIT
echo "build: $DIST/ ready" >&2
