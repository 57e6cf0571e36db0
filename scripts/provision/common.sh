# Shared by the provisioning scripts (sourced). The same scripts provision the Vagrant VMs
# (Vagrantfile) and the qemu guests of the cluster suite (test/cluster/): on a guest whose base
# already has Docker and berth they install nothing.
set -euo pipefail
log() { echo "provision[$(hostname)]: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Docker's engine from Debian (docker.io), enabled and answering.
ensure_docker() {
  if ! command -v dockerd >/dev/null; then
    log "installing docker.io"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  fi
  systemctl enable --now docker.service
  local i
  for i in $(seq 1 120); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  die "dockerd did not answer within 120 s (journalctl -u docker)"
}

# Waits for a file another VM writes into the shared folder; prints its content.
wait_shared_file() {
  local path=$1 timeout_s=${2:-600} i
  for i in $(seq 1 "$timeout_s"); do
    # A token copied by `vagrant ssh -c` may end in CR LF.
    if [ -s "$path" ]; then tr -d '\r' <"$path" | sed 's/[[:space:]]*$//'; return 0; fi
    sleep 1
  done
  die "$path did not appear within ${timeout_s} s (has the manager been provisioned?)"
}

# Writes a file into the shared folder atomically (readers never see half of it).
write_shared_file() {
  local path=$1 content=$2
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$content" >"$path.part"
  mv "$path.part" "$path"
}
