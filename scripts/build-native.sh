#!/usr/bin/env bash
# Builds the native pieces into native/build/:
#   native/build/Release/berth_native.node  N-API addon (node-gyp)
#   native/build/pause                      static sandbox pause program
# Safe to run again: node-gyp and the pause rule only rebuild what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NATIVE="$ROOT/native"
BUILD="$NATIVE/build"
ADDON="$BUILD/Release/berth_native.node"
PAUSE_SRC="$NATIVE/pause/pause.c"
PAUSE_BIN="$BUILD/pause"

die() {
  echo "build-native: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: install the Debian package \"$2\" (npm run setup does it)."
}

need gcc gcc
need g++ g++
need make make
need python3 python3
need node nodejs

# node-gyp would otherwise download headers from nodejs.org, which is not reachable here.
# Use the headers that come with the running Node unless the caller chose a nodedir.
NODEDIR_ARGS=()
if [[ -z "${npm_config_nodedir:-}" ]]; then
  NODE_PREFIX="$(node -p 'require("node:path").resolve(process.execPath, "..", "..")')"
  if [[ -f "$NODE_PREFIX/include/node/node_api.h" ]]; then
    NODEDIR_ARGS=(--nodedir="$NODE_PREFIX")
  else
    die "no Node headers at $NODE_PREFIX/include/node: install the Debian package \"libnode-dev\" or set npm_config_nodedir."
  fi
fi

NODE_GYP="$ROOT/node_modules/.bin/node-gyp"
[[ -x "$NODE_GYP" ]] || die "node-gyp missing at $NODE_GYP: run npm ci first."

cd "$NATIVE"
# The addon is built against the headers of the Node that runs this script (the pinned one, via
# scripts/node-env.sh); a build for another Node is configured again from scratch.
NODE_STAMP="$BUILD/.node-version"
NODE_VERSION_NOW="$(node --version)"
if [[ -f "$BUILD/Makefile" && "$(cat "$NODE_STAMP" 2>/dev/null)" != "$NODE_VERSION_NOW" ]]; then
  "$NODE_GYP" clean --loglevel=warn
fi
if [[ ! -f "$BUILD/Makefile" || "$NATIVE/binding.gyp" -nt "$BUILD/Makefile" ]]; then
  "$NODE_GYP" configure --loglevel=warn "${NODEDIR_ARGS[@]}"
fi
"$NODE_GYP" build --loglevel=warn "${NODEDIR_ARGS[@]}"
[[ -f "$ADDON" ]] || die "node-gyp finished but $ADDON is missing."
echo "$NODE_VERSION_NOW" >"$NODE_STAMP"

if [[ ! -x "$PAUSE_BIN" || "$PAUSE_SRC" -nt "$PAUSE_BIN" || "$0" -nt "$PAUSE_BIN" ]]; then
  # Static glibc lives in libc6-dev (libc.a); a failed link there is the usual cause.
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$PAUSE_BIN.tmp" "$PAUSE_SRC" \
    || die "building $PAUSE_BIN failed (see above); a failed static link means the Debian package \"libc6-dev\" (libc.a) is missing."
  mv -f "$PAUSE_BIN.tmp" "$PAUSE_BIN"
fi
if ldd "$PAUSE_BIN" >/dev/null 2>&1; then
  die "$PAUSE_BIN is dynamically linked; it must be static to run in an empty rootfs."
fi

echo "build-native: built $ADDON and $PAUSE_BIN"
