#!/usr/bin/env bash
# A berth worker VM: Docker's engine, the berth package, agentd configured with the manager's
# address and the worker token from the shared folder, enabled and started under its unit
# (Type=notify: `systemctl enable --now` returns once agentd reported READY).
# Usage: berth-worker.sh <advertise-address> <shared-dir> [berth .deb]
. "$(dirname "$0")/common.sh"
addr=${1:?usage: berth-worker.sh <advertise-address> <shared-dir> [deb]}
share=${2:?usage: berth-worker.sh <advertise-address> <shared-dir> [deb]}
deb=${3:-}
ensure_docker
if [ ! -x /usr/bin/agentd ]; then
  [ -n "$deb" ] && [ -f "$deb" ] || die "berth is not installed and no package was given (npm run package builds .cache/pkg/berth_<version>_amd64.deb)"
  log "installing $deb"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb"
fi
manager=$(wait_shared_file "$share/manager-addr")
token=$(wait_shared_file "$share/worker-token")
install -d -m 0755 /etc/default
umask 077
cat >/etc/default/agentd <<ENV
BERTH_MANAGER=$manager
BERTH_JOIN_TOKEN=$token
BERTH_ADVERTISE_ADDR=$addr
ENV
log "starting agentd (manager $manager)"
systemctl enable --now agentd.service
log "agentd: $(systemctl show agentd -p ActiveState,SubState --value | tr '\n' ' ')"
