#!/bin/sh
# berth's @NAME@ on the Node runtime the berth package carries (/usr/lib/berth/node).
exec /usr/lib/berth/node/bin/node /usr/lib/berth/agent/cli/@NAME@.js "$@"
