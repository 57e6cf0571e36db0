#!/usr/bin/env bash
# Host setup for the test suites: scripts/setup.sh (what the quickstart needs), then what only
# the tests use — the VM suites' qemu and Debian kernel (with IPVS), ipvsadm, dnsperf and dig
# for the DNS tests and benchmarks, tcpdump, ping, the initramfs tools; for the cluster suite's
# guests (which boot the host's root), systemd as their init, mkfs.ext4 for their disks,
# dpkg-deb for the berth package; Vagrant and its libvirt provider (vagrant-libvirt, only a Recommends
# of vagrant, which --no-install-recommends leaves out) for the Vagrantfile check
# (test/cluster/vagrantfile.test.ts). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SETUP_NAME=setup-test
. scripts/lib/setup-common.sh
require_root

TEST_PACKAGES=(
  curl vagrant vagrant-libvirt
  qemu-system-x86 linux-image-amd64 ipvsadm
  dnsutils dnsperf tcpdump iputils-ping
  kmod xz-utils zstd cpio
  systemd e2fsprogs dpkg
)
apt_install "${TEST_PACKAGES[@]}"

# The VM harness boots Debian's kernel; a fresh install may leave only the compressed image.
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || die "no /boot/vmlinuz-*-amd64 after installing linux-image-amd64"
log "done"
