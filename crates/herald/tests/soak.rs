//! Soak: many concurrent streaming clients against the real gateway, some hanging up
//! mid-stream. Afterwards nothing may be left behind (turns, connections, threads,
//! growing memory) and every turn must be in the store: finished ones with their
//! answer, abandoned ones with the user's message.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::Herald;
use common::gateway::Gateway;
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ServerOptions};
use serde_json::{Value, json};

const KEY: &str = "soak-test-key-0123456789";
const CLIENTS: usize = 48;
const REQUESTS_PER_CLIENT: usize = 5;

/// A field of `/proc/<pid>/status`, as a number (kB for memory fields).
fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc fd").count()
}

/// Established loopback TCP connections: `(accepted on local_port, opened to remote_port)`.
fn established(local_port: u16, remote_port: u16) -> (usize, usize) {
    let (mut inbound, mut outbound) = (0, 0);
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| addr.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if cols.len() < 4 || cols[3] != "01" {
                continue;
            }
            if port(cols[1]) == Some(local_port) {
                inbound += 1;
            }
            if port(cols[2]) == Some(remote_port) {
                outbound += 1;
            }
        }
    }
    (inbound, outbound)
}

/// What the gateway holds: its descriptors other than connections to the LLM,
/// connections accepted from clients, pooled connections to the LLM, and threads.
#[derive(Debug, Clone, Copy)]
struct Holdings {
    other_fds: usize,
    inbound: usize,
    to_llm: usize,
    threads: u64,
}

#[derive(Debug)]
enum Ending {
    Finished { session: String, text: String },
    HungUp { session: String, message: String },
}

/// One streaming chat; hangs up after the first content chunk when `hang_up`.
async fn stream_once(http: &reqwest::Client, base: &str, message: &str, hang_up: bool) -> Ending {
    let response = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"model": "hermes-agent", "stream": true, "messages": [{"role": "user", "content": message}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let session = response.headers()["x-hermes-session-id"].to_str().expect("session header").to_string();
    let mut response = response;
    let mut buffer = String::new();
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        buffer.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else { continue };
            if data == "[DONE]" {
                return Ending::Finished { session, text };
            }
            let v: Value = serde_json::from_str(data).expect("chunk JSON");
            if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
                text.push_str(piece);
                if hang_up && !piece.is_empty() {
                    // Dropping the body closes the connection mid-stream.
                    return Ending::HungUp { session, message: message.to_string() };
                }
            }
        }
    }
    panic!("the stream ended without [DONE]");
}

async fn round(base: &str, round: usize) -> Vec<Ending> {
    // A client of its own per round, dropped afterwards, so no pooled connection is
    // left open when the gateway's descriptors are counted.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let base = Arc::new(base.to_string());
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let mut endings = Vec::new();
                for r in 0..REQUESTS_PER_CLIENT {
                    let message = format!("soak round {round} client {c} request {r}");
                    endings.push(stream_once(&http, &base, &message, c % 4 == 0 && r % 2 == 0).await);
                }
                endings
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    all
}

/// Waits until no turn runs and the gateway holds no more than `limit` (any field).
async fn settle(gateway: &Gateway, pid: u32, llm_port: u16, limit: Option<Holdings>) -> Holdings {
    let port: u16 = gateway.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("gateway port");
    let mut last = None;
    for _ in 0..150 {
        let health: Value = gateway
            .http
            .get(format!("{}/health/detailed", gateway.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("health JSON");
        let (inbound, to_llm) = established(port, llm_port);
        let now = Holdings { other_fds: open_fds(pid) - to_llm, inbound, to_llm, threads: proc_status(pid, "Threads") };
        last = Some(now);
        let within = limit.is_none_or(|l| {
            now.other_fds <= l.other_fds
                && now.inbound <= l.inbound
                && now.to_llm <= l.to_llm
                && now.threads <= l.threads
        });
        if health["active_agents"] == 0 && within {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not settle: holds {last:?}, allowed {limit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streaming_clients_leave_nothing_behind() {
    let llm = ScriptedLlm::start_with(ServerOptions {
        chunks: 12,
        chunk_delay: Duration::from_millis(4),
        record: false,
        fallback: Reply::Echo,
        ..ServerOptions::default()
    })
    .await
    .expect("scripted LLM");
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_KEY", KEY);
    h.set("API_SERVER_MAX_CONCURRENT_RUNS", "0");
    let mut gateway = Gateway::start(&mut h, &[]).await;
    let pid = gateway.daemon.pid();

    // A first round warms caches, pools and the allocator; the second must not grow.
    let llm_port = llm.addr().port();
    let first = round(&gateway.base, 0).await;
    let before = settle(&gateway, pid, llm_port, None).await;
    let rss_before = proc_status(pid, "VmRSS");
    let second = round(&gateway.base, 1).await;
    // Only the test's own health-check connection may stay open; the pool of
    // connections to the LLM is bounded by how many turns ran at once.
    let allowed =
        Holdings { other_fds: before.other_fds + 1, inbound: 1, to_llm: CLIENTS, threads: before.threads + 2 };
    let after = settle(&gateway, pid, llm_port, Some(allowed)).await;
    let rss_after = proc_status(pid, "VmRSS");
    assert!(after.inbound <= 1 && after.to_llm <= CLIENTS, "{before:?} -> {after:?}");
    assert!(rss_after <= rss_before + 8 * 1024, "RSS grew from {rss_before} kB to {rss_after} kB over a round");

    // Every turn is in the store.
    let mut hung_up = 0;
    for ending in first.iter().chain(&second) {
        let (session, expect_user, expect_answer) = match ending {
            Ending::Finished { session, text } => {
                (session, text.trim_start_matches("echo: ").to_string(), Some(text.clone()))
            }
            Ending::HungUp { session, message } => {
                hung_up += 1;
                (session, message.clone(), None)
            }
        };
        let messages: Value = gateway
            .http
            .get(format!("{}/api/sessions/{session}/messages", gateway.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("messages")
            .json()
            .await
            .expect("messages JSON");
        let by_role: BTreeMap<String, Vec<String>> =
            messages["data"].as_array().expect("data").iter().fold(BTreeMap::new(), |mut m, msg| {
                m.entry(msg["role"].as_str().unwrap_or("").to_string())
                    .or_default()
                    .push(msg["content"].as_str().unwrap_or("").to_string());
                m
            });
        assert_eq!(by_role.get("user"), Some(&vec![expect_user.clone()]), "session {session}: {by_role:?}");
        if let Some(answer) = expect_answer {
            assert_eq!(by_role.get("assistant"), Some(&vec![answer]), "session {session}: {by_role:?}");
        }
    }
    assert_eq!(hung_up, 2 * (CLIENTS / 4) * REQUESTS_PER_CLIENT.div_ceil(2));
    assert_eq!(first.len() + second.len(), 2 * CLIENTS * REQUESTS_PER_CLIENT);
    assert_eq!(gateway.stop().await, 0, "{}", gateway.daemon.stderr());
}
