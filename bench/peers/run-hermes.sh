#!/usr/bin/env bash
# Starts hermes-agent's gateway with its OpenAI-compatible API server, kept off the network.
# Usage: run-hermes.sh HOME_DIR PORT LLM_BASE_URL API_KEY   (API_KEY: at least 16 characters)
# Writes HOME_DIR/config.yaml, then execs the gateway (so the caller's pid is the gateway's).
set -euo pipefail
. "$(dirname "$0")/common.sh"
home="$1" port="$2" llm="$3" key="$4"
mkdir -p "$home"
cat > "$home/config.yaml" <<YAML
model:
  provider: custom
  base_url: $llm
  api_key: bench-not-a-secret
  default: bench
  # Without a context length it fetches a remote model catalogue at start.
  context_length: 131072
security:
  # Else it downloads a scanner binary at start.
  tirith_enabled: false
gateway:
  api_server:
    # Default 10 answers 429 beyond 10 in-flight runs; the benchmark runs 32 clients.
    max_concurrent_runs: 0
YAML
export HERMES_HOME="$home" API_SERVER_ENABLED=true API_SERVER_KEY="$key" API_SERVER_HOST=127.0.0.1 API_SERVER_PORT="$port"
exec "$HERMES_DIR/venv/bin/hermes" gateway run
