#!/usr/bin/env bash
# Builds the local test images as tarballs (no registry is reachable here):
#   .cache/images/busybox.tar  busybox-static + tini (as init) + /etc/passwd, for test tasks
#   .cache/images/pause.tar    the berth sandbox pause program (native/build/pause)
# Idempotent: rebuilds only when an input is newer than the tarball.
# Usage: build-images.sh [busybox] [pause]   (default: both; the package needs only pause)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/images
mkdir -p "$out"
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(busybox pause)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

busybox_bin=/bin/busybox
tini_bin=/usr/bin/tini-static
pause_bin=native/build/pause
if want busybox; then
for f in "$busybox_bin" "$tini_bin"; do
  [ -x "$f" ] || { echo "build-images: $f missing (apt-get install busybox-static tini; npm run setup does it)" >&2; exit 1; }
done
fi

if want busybox && { [ ! -s "$out/busybox.tar" ] || [ "$busybox_bin" -nt "$out/busybox.tar" ] || [ "$0" -nt "$out/busybox.tar" ]; }; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,etc,tmp,root,run,proc,sys,dev,var/tmp}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp "$busybox_bin" "$root/bin/busybox"
  cp "$tini_bin" "$root/sbin/tini"
  # Skip the applet named busybox, or /bin/busybox would become a link to itself.
  for applet in $("$busybox_bin" --list); do
    [ "$applet" = busybox ] && continue
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar --numeric-owner -C "$root" -cf "$out/busybox.tar.tmp" .
  mv "$out/busybox.tar.tmp" "$out/busybox.tar"
  rm -rf "$root"
  trap - EXIT
  echo "build-images: $out/busybox.tar"
fi

if ! want pause; then
  :
elif [ -x "$pause_bin" ]; then
  if [ ! -s "$out/pause.tar" ] || [ "$pause_bin" -nt "$out/pause.tar" ]; then
    root=$(mktemp -d)
    cp "$pause_bin" "$root/pause"
    tar --numeric-owner -C "$root" -cf "$out/pause.tar.tmp" .
    mv "$out/pause.tar.tmp" "$out/pause.tar"
    rm -rf "$root"
    echo "build-images: $out/pause.tar"
  fi
else
  echo "build-images: $pause_bin missing (npm run build:native)" >&2
  exit 1
fi
