#!/usr/bin/env bash
# Builds a Debian 12 Vagrant box for the libvirt provider from Debian's archive, for hosts that
# reach no box catalogue (these machines reach only Debian's archive and the npm registry):
#   .cache/vagrant/berth-bookworm64.box   (box.img qcow2, metadata.json, Vagrantfile, vmlinuz, initrd)
# and adds it to Vagrant as `berth/bookworm64` (the Vagrantfile takes it with BERTH_BOX=berth/bookworm64).
# Run it with the VAGRANT_HOME that `vagrant up` will use: the box's kernel is booted from there,
# by qemu running as libvirt-qemu, so that folder must be readable by others (root's home is not):
#   VAGRANT_HOME=$PWD/.cache/vagrant/home bash scripts/vagrant-box.sh
#
# The root filesystem is debootstrapped on the host and written into an ext4 image with
# `mkfs.ext4 -d` (no loop device, no mount), so the disk has no partition table and no boot
# loader: the box's own Vagrantfile boots its kernel and initrd directly (libvirt's kernel/initrd
# settings), root=/dev/vda. The box is a stock Vagrant base box (user `vagrant` with Vagrant's
# insecure key, sudo without password, sshd, rsync, ifupdown for Vagrant's network setup) plus
# Docker's engine (docker.io) and berth's other Depends preinstalled: under qemu without KVM,
# installing the engine inside each guest would cost minutes. The provisioning scripts install
# what is missing, so a stock debian/bookworm64 box works the same, only slower.
# Needs root, debootstrap, e2fsprogs, qemu-utils. ~5 min, ~1 GB in .cache/vagrant.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_NAME=vagrant-box
. "$ROOT/scripts/lib/setup-common.sh"
require_root

BOX_NAME=${BOX_NAME:-berth/bookworm64}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DISK_GB=16
OUT="$ROOT/.cache/vagrant"
ROOTFS="$OUT/rootfs"
BOX="$OUT/berth-bookworm64.box"
# Vagrant's published insecure public key (it replaces it with a key of its own at first `up`).
INSECURE_KEY='ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key'

command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"
command -v qemu-img >/dev/null || die "qemu-img not found: apt-get install -y qemu-utils"
mkdir -p "$OUT"
exec 9>"$OUT/box.lock"
flock 9

if [ ! -f "$ROOTFS/.berth-box-complete" ]; then
  rm -rf "$ROOTFS"
  step "debootstrap bookworm" debootstrap --variant=minbase \
    --include=systemd-sysv,udev,dbus,apparmor,linux-image-amd64,initramfs-tools,openssh-server,sudo,rsync,ifupdown,isc-dhcp-client,iproute2,iputils-ping,curl,ca-certificates,docker.io,nftables,iptables,util-linux,procps,kmod,less \
    bookworm "$ROOTFS" "$MIRROR" >&2
  touch "$ROOTFS/.berth-box-complete"
fi

# The guest's identity and settings (idempotent: rewritten on every run).
echo vagrant >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvagrant\n' >"$ROOTFS/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$ROOTFS/etc/fstab"
cat >"$ROOTFS/etc/network/interfaces" <<'EOF'
# Vagrant appends its private networks below.
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
EOF
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
  "$MIRROR" "$MIRROR" >"$ROOTFS/etc/apt/sources.list"
rm -f "$ROOTFS/etc/machine-id" "$ROOTFS/var/lib/dbus/machine-id"
: >"$ROOTFS/etc/machine-id"
# sshd's host keys are made at the guest's first boot, so each VM has its own.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
cat >"$ROOTFS/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=sshd host keys at first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
echo 'UseDNS no' >"$ROOTFS/etc/ssh/sshd_config.d/vagrant.conf"
chroot "$ROOTFS" systemctl enable ssh-hostkeys.service ssh.service networking.service >&2
chroot "$ROOTFS" systemctl set-default multi-user.target >&2
if ! chroot "$ROOTFS" id vagrant >/dev/null 2>&1; then
  chroot "$ROOTFS" useradd -m -s /bin/bash -G sudo vagrant
  echo 'vagrant:vagrant' | chroot "$ROOTFS" chpasswd
fi
echo 'root:vagrant' | chroot "$ROOTFS" chpasswd
install -d -m 0700 -o 1000 -g 1000 "$ROOTFS/home/vagrant/.ssh"
echo "$INSECURE_KEY" >"$ROOTFS/home/vagrant/.ssh/authorized_keys"
chown 1000:1000 "$ROOTFS/home/vagrant/.ssh/authorized_keys"
chmod 0600 "$ROOTFS/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$ROOTFS/etc/sudoers.d/vagrant"
chmod 0440 "$ROOTFS/etc/sudoers.d/vagrant"
chroot "$ROOTFS" apt-get clean

KERNEL=$(ls "$ROOTFS"/boot/vmlinuz-*-amd64 | sort -V | tail -1)
INITRD="$ROOTFS/boot/initrd.img-${KERNEL##*/vmlinuz-}"
[ -f "$INITRD" ] || die "no initrd beside $KERNEL"

STAGE="$OUT/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE"
step "ext4 image from the root tree" mkfs.ext4 -q -F -L root -d "$ROOTFS" "$STAGE/root.raw" "${DISK_GB}G"
step "qcow2" qemu-img convert -O qcow2 "$STAGE/root.raw" "$STAGE/box.img"
rm -f "$STAGE/root.raw"
cp "$KERNEL" "$STAGE/vmlinuz"
cp "$INITRD" "$STAGE/initrd"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_GB" >"$STAGE/metadata.json"
cat >"$STAGE/Vagrantfile" <<'EOF'
# The box has no boot loader: libvirt boots its kernel and initrd directly.
Vagrant.configure("2") do |config|
  config.vm.provider "libvirt" do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
    lv.disk_bus = "virtio"
  end
end
EOF
# Not compressed: gzip of the 1 GB image takes minutes on 2 cores, and Vagrant unpacks a plain tar.
step "box archive" tar -C "$STAGE" -cf "$BOX.part" metadata.json Vagrantfile box.img vmlinuz initrd
mv "$BOX.part" "$BOX"
rm -rf "$STAGE"
if command -v vagrant >/dev/null; then
  step "vagrant box add $BOX_NAME" vagrant box add --force --name "$BOX_NAME" "$BOX" >&2
fi
echo "$BOX"
