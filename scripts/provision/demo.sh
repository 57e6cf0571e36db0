#!/usr/bin/env bash
# Run on the manager once the workers are provisioned: waits for <count> workers Ready, then
# starts the demo service (one replica per worker, a VIP on an overlay network, port 8080
# published through the routing mesh; each replica answers with its task name) and prints
# `docker node ls`.
# Usage: demo.sh <worker-count> [image]   (the image needs sh and httpd: busybox)
. "$(dirname "$0")/common.sh"
count=${1:?usage: demo.sh <worker-count> [image]}
image=${2:-busybox:1.36}
for i in $(seq 1 600); do
  ready=$(docker node ls --filter role=worker --format '{{.Status}}' | grep -c '^Ready$' || true)
  [ "$ready" -ge "$count" ] && break
  [ "$i" = 600 ] && die "only $ready of $count workers Ready after 600 s"
  sleep 1
done
docker network inspect demo-net >/dev/null 2>&1 || docker network create --driver overlay --attachable demo-net >/dev/null
if ! docker service inspect demo >/dev/null 2>&1; then
  docker service create --detach --name demo --network demo-net --replicas "$count" \
    --replicas-max-per-node 1 --constraint node.role==worker --hostname '{{.Task.Name}}' \
    --publish published=8080,target=8080 "$image" \
    sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www' >/dev/null
fi
docker node ls
log "demo: curl http://<any VM's address>:8080/"
