# Shared settings for the peer scripts. Sourced, not run.
# Peers are installed outside the checkout; nothing here is ever committed.
PEERS_DIR="${HERALD_BENCH_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/herald/bench-peers}"
HERMES_VERSION="0.19.0"
AIOHTTP_VERSION="3.14.1"
OPENCLAW_VERSION="2026.9.6"
NODE_PKG_VERSION="24.21.0"
HERMES_DIR="$PEERS_DIR/hermes-$HERMES_VERSION"
OPENCLAW_DIR="$PEERS_DIR/openclaw-$OPENCLAW_VERSION"
