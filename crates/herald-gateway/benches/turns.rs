//! Turns through `GatewayBackend` without HTTP in front: the gateway's share of an API
//! turn (prompt files, two store writes, the agent loop, the provider client) against
//! the scripted LLM. Run with `cargo bench -p herald-gateway --bench turns`.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `HERALD_BENCH_TURNS` | 20000 | turns in total |
//! | `HERALD_BENCH_CLIENTS` | 32 | concurrent clients, each with its own session |
//! | `HERALD_BENCH_HISTORY` | `provided` | `provided` (the client sends the conversation) or `stored` |
//!
//! With `stored`, each client starts a new session every ten turns, so the history read
//! from the store (and sent to the model) stays at most 18 messages, as with `provided`'s
//! two, rather than growing with the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_agent::provider::{OpenAiConfig, OpenAiProvider};
use herald_agent::tools::{MemoryFiles, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::Message;
use herald_core::backend::{Backend, History, TurnRequest, TurnStatus};
use herald_gateway::{BackendSetup, GatewayBackend, GatewayStatus, PromptFiles};
use herald_store::{SqliteStore, Store};
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ServerOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let turns = env_usize("HERALD_BENCH_TURNS", 20_000);
    let clients = env_usize("HERALD_BENCH_CLIENTS", 32).max(1);
    let stored = std::env::var("HERALD_BENCH_HISTORY").is_ok_and(|v| v == "stored");

    let options =
        ServerOptions { record: false, fallback: Reply::text("A short scripted answer."), ..Default::default() };
    let llm = ScriptedLlm::start_with(options).await.expect("scripted LLM");
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("herald.db")).expect("store"));
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url: llm.openai_base_url(),
        api_key: Some("sk-bench".into()),
        max_retries: 0,
        ..OpenAiConfig::default()
    })
    .expect("provider");
    let settings =
        AgentSettings { model: "bench".into(), max_tokens: 256, temperature: None, stream: true, max_iterations: 4 };
    let agent = Arc::new(Agent::new(Arc::new(provider), ToolRegistry::new(), settings));
    let memory = MemoryFiles {
        dir: dir.path().to_path_buf(),
        memory_enabled: true,
        user_enabled: true,
        memory_char_limit: 2200,
        user_char_limit: 1375,
    };
    let backend = GatewayBackend::new(BackendSetup {
        store,
        prompt: PromptFiles::new(dir.path().to_path_buf(), memory),
        model_name: "hermes-agent".into(),
        agent: Ok(agent),
        routes: Vec::new(),
        status: Arc::new(GatewayStatus::new(None)),
    });

    let per_client = turns.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for turn in 0..per_client {
                let history = if stored {
                    History::Stored
                } else {
                    History::Provided(vec![Message::user("Hello there."), Message::assistant("Hi! How can I help?")])
                };
                let session = if stored { turn / 10 } else { 0 };
                let request = TurnRequest {
                    session_id: format!("api-bench-{client:04}-{session}"),
                    session_key: None,
                    history,
                    input: format!("Question {turn} from client {client}: what is the capital of France?"),
                    ephemeral_system: None,
                    model: None,
                    title: None,
                };
                let at = Instant::now();
                let outcome = backend.run_turn(request, Box::new(|_| {})).await.expect("turn");
                assert_eq!(outcome.status, TurnStatus::Completed);
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{} turns, {clients} clients, history {}: {:.0} turns/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        if stored { "stored" } else { "provided" },
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        pick(1.0).as_secs_f64() * 1e3,
    );
}
