#!/usr/bin/env bash
# Installs hermes-agent (PyPI) and aiohttp (its API server needs it) into a venv in the peers cache.
# Idempotent: does nothing when the venv already has the pinned version.
set -euo pipefail
. "$(dirname "$0")/common.sh"
if [ -x "$HERMES_DIR/venv/bin/hermes" ] && "$HERMES_DIR/venv/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('hermes-agent') != '$HERMES_VERSION')" 2>/dev/null; then
  echo "hermes-agent $HERMES_VERSION already installed in $HERMES_DIR"
  exit 0
fi
mkdir -p "$HERMES_DIR"
python3 -m venv "$HERMES_DIR/venv"
"$HERMES_DIR/venv/bin/pip" install --quiet --upgrade pip
"$HERMES_DIR/venv/bin/pip" install --quiet "hermes-agent==$HERMES_VERSION" "aiohttp==$AIOHTTP_VERSION"
echo "installed hermes-agent $HERMES_VERSION into $HERMES_DIR/venv"
