#!/usr/bin/env bash
# Imports berth's local images into a Docker Engine without a registry.
# Usage: scripts/import-images.sh [DOCKER_HOST]   (default: $DOCKER_HOST or the system engine)
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
bash scripts/build-images.sh
docker=/usr/bin/docker
"$docker" -H "$host" import -c 'ENV PATH=/bin:/sbin' -c 'ENTRYPOINT ["/sbin/tini", "--"]' -c 'CMD ["/bin/sh"]' \
  .cache/images/busybox.tar local/busybox:test >/dev/null
"$docker" -H "$host" import -c 'ENTRYPOINT ["/pause"]' \
  .cache/images/pause.tar berth/pause:local >/dev/null
echo "imported local/busybox:test and berth/pause:local into $host"
