# Shared by scripts/setup.sh and scripts/setup-test.sh (sourced): logging, timed steps that
# show they are alive, and apt installs of only what is missing, with their progress shown.

SETUP_NAME=${SETUP_NAME:-setup}
log() { echo "$SETUP_NAME: $*" >&2; }
die() { log "$*"; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (installs packages, builds network namespaces and engines)"
}

# step "what" cmd args...: runs a long step with its start, a line every 15 s while it runs,
# and its duration; its own output passes through.
step() {
  local what=$1; shift
  local t0=$SECONDS rc=0 ticker
  log "$what ..."
  # The sleep runs in the background so the TERM at the end is handled at once, not after it.
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 15 & s=$!
      wait "$s"
      log "  ... $what ($((SECONDS - t0)) s)"
    done
  ) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  [ "$rc" = 0 ] || die "$what failed (exit $rc)"
  log "$what done ($((SECONDS - t0)) s)"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# apt_install pkg...: installs those not installed yet; one line per package unpacked and set
# up, the whole apt log in /tmp/berth-apt.log.
apt_install() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  step "apt-get update" apt-get update -qq
  log "apt-get install ${missing[*]}"
  local t0=$SECONDS
  local rc_file=/tmp/berth-apt.rc
  { apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" 2>&1; echo $? >"$rc_file"; } \
    | tee /tmp/berth-apt.log | grep --line-buffered -E '^(Get:|Unpacking|Setting up) ' | sed -u "s/^/$SETUP_NAME:   /" >&2 || true
  if [ "$(cat "$rc_file")" != 0 ]; then
    tail -30 /tmp/berth-apt.log >&2
    die "apt-get install failed (whole log: /tmp/berth-apt.log)"
  fi
  log "apt-get install done ($((SECONDS - t0)) s)"
}

# A Docker Engine already on the host (docker-ce, moby-engine, docker.io, a static install) is
# used as it is; docker.io is installed only when there is none.
docker_engine_packages() {
  if command -v dockerd >/dev/null 2>&1; then
    log "using the Docker Engine already installed: $(dockerd --version 2>/dev/null || echo dockerd)"
    return 0
  fi
  local p
  for p in docker-ce moby-engine docker.io; do
    installed "$p" && die "package $p is installed but dockerd is not on PATH: repair that install (berth does not replace it)"
  done
  local cli owner
  if cli=$(command -v docker 2>/dev/null); then
    # A CLI from a package (docker-ce-cli, say) names its source: its engine comes from there,
    # and docker.io would conflict with it. A loose binary (a static client dropped into
    # /usr/local/bin) conflicts with nothing: docker.io goes beside it, and berth's scripts call
    # the engine's own CLI, /usr/bin/docker.
    owner=$(dpkg-query -S "$(readlink -f "$cli")" 2>/dev/null | cut -d: -f1 || true)
    [ -n "$owner" ] && die "the docker CLI of package $owner ($cli) is installed without its engine (dockerd): install the engine from the same source (e.g. docker-ce); berth does not install docker.io over it"
    log "a docker CLI of no package is at $cli; installing docker.io beside it (berth uses /usr/bin/docker; a plain 'docker' in your shell may still be the one at $cli)"
  fi
  echo docker.io
}
