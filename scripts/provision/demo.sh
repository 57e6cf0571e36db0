#!/usr/bin/env bash
# Run on the manager once the workers are provisioned: waits for <workers> workers Ready, then
# starts the demo service: <replicas> replicas, at most one per node, on an overlay network
# (a VIP) with port 8080 published through the routing mesh; each replica answers its task
# name. Placement: [constraint] (default node.role==worker; "none" lets the manager's own
# engine take a replica too). Prints `docker node ls`.
# Usage: demo.sh <workers> <replicas> [image] [constraint]   (the image needs sh and httpd: busybox)
. "$(dirname "$0")/common.sh"
workers=${1:?usage: demo.sh <workers> <replicas> [image] [constraint]}
replicas=${2:?usage: demo.sh <workers> <replicas> [image] [constraint]}
image=${3:-busybox:1.36}
constraint=${4:-node.role==worker}
placement=()
[ "$constraint" != none ] && placement=(--constraint "$constraint")
for i in $(seq 1 600); do
  ready=$(docker node ls --filter role=worker --format '{{.Status}}' | grep -c '^Ready$' || true)
  [ "$ready" -ge "$workers" ] && break
  [ "$i" = 600 ] && die "only $ready of $workers workers Ready after 600 s"
  sleep 1
done
docker network inspect demo-net >/dev/null 2>&1 || docker network create --driver overlay --attachable demo-net >/dev/null
if ! docker service inspect demo >/dev/null 2>&1; then
  # --no-resolve-image: the nodes pull the tag themselves (or have it, where there is no registry).
  docker service create --detach --no-resolve-image --name demo --network demo-net --replicas "$replicas" \
    --replicas-max-per-node 1 "${placement[@]}" --hostname '{{.Task.Name}}' \
    --publish published=8080,target=8080 "$image" \
    sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www' >/dev/null
fi
docker node ls
log "demo: curl http://<any VM's address>:8080/"
