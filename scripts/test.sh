#!/usr/bin/env bash
# Installs what herald's tests need, then runs every test.
# Used as-is by CI (.ci/run) and by developers: `./scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

# A build directory outside the checkout, so repeated runs (and fresh clones at the same
# path) reuse it. One per checkout path: cargo does not tell apart two checkouts of the
# same workspace sharing a directory (its fingerprints ignore where the sources are), so
# a build in one could be taken as fresh by the other.
checkout_id="$(pwd -P | sha256sum | cut -c1-12)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/herald/target-$checkout_id}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0
FUZZ_TARGET_DIR="${HERALD_FUZZ_TARGET_DIR:-$HOME/.cache/herald/fuzz-target-$checkout_id}"

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
cargo --version
rustc --version

step "formatting"
cargo fmt --all -- --check

step "lints (clippy, every target, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "fuzz targets build"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
(cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz build -s none)

step "test peers (official openai clients for Python and JavaScript)"
# The client tests find them through these variables; without them a test installs
# the peers itself with the same script.
while IFS='=' read -r name value; do
  case "$name" in
    python) export HERALD_TEST_PYTHON="$value" ;;
    node) export HERALD_TEST_NODE="$value" ;;
    node_dir) export HERALD_TEST_NODE_DIR="$value" ;;
  esac
done < <(./scripts/install-test-peers.sh)

step "tests"
cargo test --workspace --locked --no-fail-fast
