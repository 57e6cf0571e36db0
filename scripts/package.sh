#!/usr/bin/env bash
# `npm run package`: builds the Debian package berth_<version>_amd64.deb into .cache/pkg/.
#   /usr/lib/berth/          dist/ (JavaScript, protos, native addon, images/pause.tar,
#                            package.json), production node_modules, node/ (the pinned Node
#                            runtime, scripts/node.pin), README.md
#   /usr/bin/agentd, /usr/bin/agentctl   run them on that runtime
#   /lib/systemd/system/agentd.service   systemd/agentd.service
#   /usr/lib/tmpfiles.d/berth.conf, /usr/lib/sysctl.d/60-berth.conf, /usr/lib/modules-load.d/berth.conf
# Needs only dpkg-deb (no fpm, no debhelper), the npm registry for `npm ci --omit=dev`, and
# what `npm run setup` installs. Ships no conffile, so `dpkg -r` leaves no file behind but the
# state dir. Prints the .deb's path on stdout.
# BERTH_DEB_COMPRESSION=gzip trades size for time (47 MB in ~10 s instead of 31 MB in 1-3 min
# with xz on 2 cores): the package test uses it; the contents are the same.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SETUP_NAME=package
. scripts/lib/setup-common.sh
. scripts/node-env.sh
. scripts/node.pin

[[ "$(node --version)" == "v$NODE_VERSION" ]] || die "node on PATH is $(node --version), not the pinned v$NODE_VERSION"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: install the Debian package \"dpkg\""
VERSION=$(node -p 'require("./package.json").version')
OUT="$ROOT/.cache/pkg"
STAGE="$OUT/stage"
DEB="$OUT/berth_${VERSION}_amd64.deb"
LIB="$STAGE/usr/lib/berth"
mkdir -p "$OUT"
# One package build at a time: they share the staging tree.
exec 9>"$OUT/package.lock"
flock 9

# The addon is (re)built against the pinned Node's headers when it was built with another.
step "native addon for Node v$NODE_VERSION" bash scripts/build-native.sh >&2
step "dist/" bash scripts/build.sh --if-stale

rm -rf "$STAGE"
mkdir -p "$LIB" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/usr/lib/tmpfiles.d" "$STAGE/usr/lib/sysctl.d" "$STAGE/usr/lib/modules-load.d" "$STAGE/DEBIAN"
# Source maps point at TypeScript that is not shipped.
tar -C dist --exclude='*.map' --exclude=.built -cf - . | tar -C "$LIB" -xf -
cp package.json package-lock.json "$LIB/"
step "production node_modules (npm ci --omit=dev)" bash -c "cd '$LIB' && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2"
cp dist/package.json "$LIB/package.json"
rm -f "$LIB/package-lock.json"
mkdir -p "$LIB/node/bin"
cp "$BERTH_NODE_HOME/bin/node" "$LIB/node/bin/node"
cp "$BERTH_NODE_HOME/LICENSE" "$LIB/node/LICENSE"
cp README.md "$LIB/README.md"
for name in agentd agentctl; do
  sed "s/@NAME@/$name/g" packaging/bin-wrapper.sh >"$STAGE/usr/bin/$name"
  chmod 0755 "$STAGE/usr/bin/$name"
done
cp systemd/agentd.service "$STAGE/lib/systemd/system/agentd.service"
cp packaging/tmpfiles.conf "$STAGE/usr/lib/tmpfiles.d/berth.conf"
cp packaging/sysctl.conf "$STAGE/usr/lib/sysctl.d/60-berth.conf"
cp packaging/modules-load.conf "$STAGE/usr/lib/modules-load.d/berth.conf"
for s in postinst prerm postrm; do install -m 0755 "packaging/$s" "$STAGE/DEBIAN/$s"; done

# What ships must run on what ships: the runtime loads the addon and the CLI reports the version.
"$LIB/node/bin/node" -e 'require(process.argv[1])' "$LIB/native/build/Release/berth_native.node" \
  || die "the native addon does not load on the bundled Node v$NODE_VERSION"
got=$("$LIB/node/bin/node" "$LIB/agent/cli/agentd.js" --version)
[[ "$got" == "$VERSION" ]] || die "the staged agentd reports version '$got', not $VERSION"

size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@NODE_VERSION@/$NODE_VERSION/" packaging/control >"$STAGE/DEBIAN/control"
rm -f "$DEB"
case "${BERTH_DEB_COMPRESSION:-xz}" in
  xz) compress=(-Zxz -z6) ;;
  gzip) compress=(-Zgzip -z6) ;;
  *) die "BERTH_DEB_COMPRESSION must be xz or gzip, got ${BERTH_DEB_COMPRESSION}" ;;
esac
step "dpkg-deb --build ($((size / 1024)) MiB installed, ${compress[0]#-Z})" dpkg-deb --root-owner-group "${compress[@]}" --build "$STAGE" "$DEB" >&2
rm -rf "$STAGE"
log "$DEB ($(du -h "$DEB" | cut -f1))"
echo "$DEB"
