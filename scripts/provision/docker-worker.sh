#!/usr/bin/env bash
# A Docker worker VM (for a mixed cluster): Docker's engine joined with `docker swarm join`.
# Usage: docker-worker.sh <advertise-address> <shared-dir>
. "$(dirname "$0")/common.sh"
addr=${1:?usage: docker-worker.sh <advertise-address> <shared-dir>}
share=${2:?usage: docker-worker.sh <advertise-address> <shared-dir>}
ensure_docker
manager=$(wait_shared_file "$share/manager-addr")
token=$(wait_shared_file "$share/worker-token")
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "swarm join $manager"
  docker swarm join --advertise-addr "$addr" --token "$token" "$manager" >/dev/null
fi
log "joined $manager"
