#!/usr/bin/env bash
# The Swarm manager VM: Docker's engine, `docker swarm init`, the worker join token and the
# manager's address written into the shared folder for the workers.
# Usage: manager.sh <advertise-address> <shared-dir>
. "$(dirname "$0")/common.sh"
addr=${1:?usage: manager.sh <advertise-address> <shared-dir>}
share=${2:?usage: manager.sh <advertise-address> <shared-dir>}
ensure_docker
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "swarm init --advertise-addr $addr"
  docker swarm init --advertise-addr "$addr" >/dev/null
fi
write_shared_file "$share/manager-addr" "$addr:2377"
write_shared_file "$share/worker-token" "$(docker swarm join-token -q worker)"
log "manager ready at $addr:2377"
