#!/usr/bin/env bash
# The pinned Node (scripts/node.pin, installed by scripts/install-node.sh) first on PATH.
#   . scripts/node-env.sh            in a bash script: PATH and BERTH_NODE_HOME for the rest of it
#   bash scripts/node-env.sh CMD...  runs CMD with them (npm scripts: the suites, the quickstart)
_berth_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=node.pin
. "$_berth_root/scripts/node.pin"
export BERTH_NODE_HOME="$_berth_root/.cache/node/v$NODE_VERSION"
if [[ ! -x "$BERTH_NODE_HOME/bin/node" ]]; then
  echo "node-env: Node v$NODE_VERSION is not installed at $BERTH_NODE_HOME: run \`npm run setup\` (or bash scripts/install-node.sh)" >&2
  if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then exit 1; else return 1; fi
fi
case ":$PATH:" in
  *":$BERTH_NODE_HOME/bin:"*) ;;
  *) export PATH="$BERTH_NODE_HOME/bin:$PATH" ;;
esac
unset _berth_root
if [[ "${BASH_SOURCE[0]}" == "$0" && $# -gt 0 ]]; then
  exec "$@"
fi
