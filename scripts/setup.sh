#!/usr/bin/env bash
# Host setup for berth's quickstart (and the first half of the test setup, scripts/setup-test.sh):
# only what building berth and running the quickstart needs. A Docker Engine already installed
# (docker-ce included) is used, never replaced. Idempotent, and fast when already done: apt
# packages only when missing, the pinned Node only when absent, npm ci only when the lockfile
# changed, native helpers, image tarballs and dist/ only when their inputs changed.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_NAME=setup
. scripts/lib/setup-common.sh
require_root

engine=$(docker_engine_packages)
# Runtime: netns/links (iproute2, util-linux's nsenter), berth's rules (nftables, iptables),
# sysctl (procps). Build: the native addon and the static pause program (build-essential,
# python3 for node-gyp), the pinned Node's integrity check (openssl). The demo's image:
# busybox-static and tini.
APT_PACKAGES=(
  $engine iproute2 nftables iptables util-linux procps
  build-essential python3 openssl ca-certificates
  busybox-static tini
)
apt_install "${APT_PACKAGES[@]}"

step "Node (scripts/node.pin)" bash scripts/install-node.sh
. scripts/node-env.sh
log "node $(node --version) from $BERTH_NODE_HOME"

stamp=node_modules/.berth-lock-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ] || [ "$(cat "$stamp")" != "$(node --version)" ]; then
  step "npm ci" npm ci --no-audit --no-fund --loglevel=error
  node --version >"$stamp"
fi

step "native helpers" bash scripts/build-native.sh
step "local image tarballs" bash scripts/build-images.sh
step "dist/ (the built layout)" bash scripts/build.sh --if-stale
log "done"
