#!/usr/bin/env bash
# Regenerates crates/herald/code-order.txt: the functions of the release binary in the
# order they first run, which crates/herald/build.rs hands to the linker.
#
# Runs the release binary under scripts/code-order/trace.c (a ptrace tracer that puts a
# one-shot breakpoint on every function) through, in this order:
#   1. start-up on embedded defaults with the API server, 3 s idle, one /health, SIGTERM;
#   2. herald-bench telegram, small (Telegram connect, idle polling, then traffic);
#   3. herald-bench all for herald, short (API turns, streaming, the concurrency phases).
# The merged first-run order puts what an idle gateway needs first, the serving paths
# next; functions that never ran keep the linker's order behind them.
#
# Re-run after upgrading rustc or dependencies (their symbol names change, and names the
# build no longer has are skipped), then rebuild: `cargo build --release -p herald`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
checkout_id="$(pwd -P | sha256sum | cut -c1-12)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/herald/target-$checkout_id}"
release="$CARGO_TARGET_DIR/release"

# herald alone, as `cargo build --release` builds it: built together with other packages,
# shared dependencies get their features unified and their symbol names change.
cargo build --release --locked -p herald

work="$(mktemp -d /tmp/herald-code-order.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/trace" scripts/code-order/trace.c
# A copy, so rebuilding while this runs cannot change the binary under the tracer.
cp "$release/herald" "$work/herald"
cargo build --release --locked -p herald-testkit -p herald-bench
nm --defined-only "$work/herald" | awk '$2 ~ /^[tT]$/ { print $1, $3 }' >"$work/functions"
mkdir "$work/orders"
cat >"$work/herald-traced" <<EOF
#!/bin/sh
exec "$work/trace" "$work/functions" "$work/orders/\$(date +%s%N)-\$\$" -- "$work/herald" "\$@"
EOF
chmod +x "$work/herald-traced"

echo "== 1. start-up and idle"
home="$work/home"
port=18642
HERALD_HOME="$home" API_SERVER_ENABLED=true API_SERVER_KEY=code-order-key-0123456789 \
  API_SERVER_HOST=127.0.0.1 API_SERVER_PORT=$port HERALD_LLM_BASE_URL=http://127.0.0.1:9/v1 \
  OPENAI_API_KEY=x HERALD_MODEL=code-order "$work/herald-traced" gateway run >"$work/idle.log" 2>&1 &
tracer=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 3
curl -fsS "http://127.0.0.1:$port/health" >/dev/null
kill -TERM "$tracer"
wait "$tracer" || true

echo "== 2. Telegram"
"$release/herald-bench" telegram --messages 300 --chats 30 --sequential 30 --soak-seconds 3 \
  --herald "$work/herald-traced" --testkit-dir "$release" >"$work/telegram.json"

echo "== 3. API"
"$release/herald-bench" all --targets herald --repeats 1 --extra-starts 0 --duration 3 \
  --seq-requests 200 --stream-requests 100 --settle 1 --after 1 \
  --herald "$work/herald-traced" --llm "$release/herald-testkit-llm" --out "$work/api" >"$work/api.log"

# The runs in the order they were made (file names start with the start time); each
# name once, where it first ran.
ls "$work/orders" | sort | sed "s|^|$work/orders/|" | xargs cat | awk 'NF && !seen[$0]++' \
  >crates/herald/code-order.txt
echo "crates/herald/code-order.txt: $(wc -l <crates/herald/code-order.txt) functions of $(wc -l <"$work/functions")"
echo "now rebuild: cargo build --release -p herald"
