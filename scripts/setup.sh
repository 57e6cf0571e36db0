#!/usr/bin/env bash
# Host setup for berth's quickstart and test suites. Idempotent, and fast when already done:
# apt packages are installed only when missing, npm ci runs only when the lockfile changed,
# native helpers and image tarballs are rebuilt only when their inputs changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io tini iproute2 nftables iptables
  qemu-system-x86 linux-image-amd64 ipvsadm
  busybox-static dnsutils dnsperf tcpdump iputils-ping
  util-linux procps kmod xz-utils zstd cpio
  build-essential python3
)

log() { echo "setup: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (installs packages, builds network namespaces and engines)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/berth-apt.log 2>&1 || {
    tail -30 /tmp/berth-apt.log >&2
    exit 1
  }
fi

# The VM harness boots Debian's kernel; a fresh install may leave only the compressed image.
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || { log "no /boot/vmlinuz-*-amd64 after installing linux-image-amd64"; exit 1; }

stamp=node_modules/.berth-lock-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

log "native helpers"
bash scripts/build-native.sh
log "local image tarballs"
bash scripts/build-images.sh
log "typescript build"
npx tsc -p tsconfig.build.json
log "done"
