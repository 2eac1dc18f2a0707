#!/usr/bin/env bash
# One command for the whole comparison: installs the peers (once, into ~/.cache/herald/bench-peers),
# builds herald, the scripted LLM and the harness in release mode, then runs every phase for the
# LLM directly, herald, Hermes and OpenClaw inside a loopback-only network namespace.
# Extra arguments go to `herald-bench all` (e.g. `--repeats 1 --duration 10 --targets herald`).
set -euo pipefail
cd "$(dirname "$0")/.."
bench/peers/install-hermes.sh
bench/peers/install-openclaw.sh
# herald on its own, as users build it (`cargo build --release`): built together with the
# harness, shared dependencies would get unified features, a different binary.
cargo build --release -p herald
cargo build --release -p herald-testkit -p herald-bench
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
exec "$target_dir/release/herald-bench" all "$@"
