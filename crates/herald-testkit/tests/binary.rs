//! The standalone `herald-testkit-llm` process.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_and_is_scriptable() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-testkit-llm"))
        .args(["--port", "0", "--reply", "one two three four", "--chunks", "2", "--no-record"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn herald-testkit-llm");
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).await.unwrap();
    let base =
        first.trim_end().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let (status, body) = post_json(&format!("{base}/v1/chat/completions"), &openai_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "one two three four");

    let (_, _, text) = post_text(&format!("{base}/v1/messages"), &anthropic_body(true)).await;
    let deltas = parse_sse(&text).iter().filter(|e| e.event.as_deref() == Some("content_block_delta")).count();
    assert_eq!(deltas, 2);

    let http = client();
    http.post(format!("{base}/__testkit/push"))
        .json(&json!({"type": "text", "text": "scripted"}))
        .send()
        .await
        .unwrap();
    let (_, body) = post_json(&format!("{base}/v1/messages"), &anthropic_body(false)).await;
    assert_eq!(body["content"][0]["text"], "scripted");

    let stats: Value = http.get(format!("{base}/__testkit/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats, json!({"requests": 3, "queued": 0, "recording": false}));
    let listed: Value = http.get(format!("{base}/__testkit/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([]));

    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test]
async fn binary_reports_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_herald-testkit-llm")).args(["--port", &port]).output().await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(output.stdout.is_empty());
}
