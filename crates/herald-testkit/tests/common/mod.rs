//! Helpers shared by the scripted-LLM integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use herald_testkit::ScriptedLlm;
use serde_json::{Value, json};

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

pub fn openai_url(llm: &ScriptedLlm) -> String {
    format!("{}/chat/completions", llm.openai_base_url())
}

pub fn anthropic_url(llm: &ScriptedLlm) -> String {
    format!("{}/v1/messages", llm.anthropic_base_url())
}

pub fn openai_body(stream: bool) -> Value {
    json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are a test."},
            {"role": "user", "content": "hello there"}
        ],
        "stream": stream
    })
}

pub fn anthropic_body(stream: bool) -> Value {
    json!({
        "model": "claude-test",
        "max_tokens": 256,
        "system": "You are a test.",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": stream
    })
}

pub async fn post(url: &str, body: &Value) -> reqwest::Response {
    client()
        .post(url)
        .header("authorization", "Bearer sk-test")
        .header("x-api-key", "test-key")
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Status and JSON body.
pub async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = post(url, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Status, content type and whole body text.
pub async fn post_text(url: &str, body: &Value) -> (u16, String, String) {
    let response = post(url, body).await;
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    (status, content_type, response.text().await.expect("body"))
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().expect("ascii header").to_owned()).unwrap_or_default()
}

/// Reads a body chunk by chunk until it ends or the connection breaks;
/// returns what arrived and whether it ended cleanly.
pub async fn read_until_end(mut response: reqwest::Response) -> (String, bool) {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8(bytes).expect("utf-8"), true),
            Err(_) => return (String::from_utf8(bytes).expect("utf-8"), false),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Splits an event stream into events; every event must be terminated by a blank line.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    assert!(text.is_empty() || text.ends_with("\n\n"), "stream does not end at an event boundary: {text:?}");
    text.split_terminator("\n\n")
        .map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            SseEvent { event, data: data.join("\n") }
        })
        .collect()
}

/// Sets `created` to 0 so a response can be compared whole.
pub fn zero_created(mut value: Value) -> Value {
    if let Some(created) = value.get_mut("created") {
        assert!(created.as_u64().is_some_and(|t| t > 1_600_000_000), "created: {created}");
        *created = json!(0);
    }
    value
}
