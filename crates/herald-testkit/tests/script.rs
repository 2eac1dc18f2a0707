//! Scripting order, fallback, recording, and the server handle's lifecycle.

mod common;

use std::time::Duration;

use common::*;
use herald_testkit::llm::{Reply, ScriptedLlm, ServerOptions, Wire};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn openai_text(llm: &ScriptedLlm) -> String {
    let (_, body) = post_json(&openai_url(llm), &openai_body(false)).await;
    body["choices"][0]["message"]["content"].as_str().unwrap().to_owned()
}

async fn anthropic_text(llm: &ScriptedLlm) -> String {
    let (_, body) = post_json(&anthropic_url(llm), &anthropic_body(false)).await;
    body["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn fifo_then_fallback_across_both_wires() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("first"));
    llm.push_all([Reply::text("second"), Reply::text("third")]);
    assert_eq!(llm.queued(), 3);

    assert_eq!(openai_text(&llm).await, "first");
    assert_eq!(anthropic_text(&llm).await, "second");
    assert_eq!(openai_text(&llm).await, "third");
    assert_eq!(llm.queued(), 0);
    // The default fallback echoes.
    assert_eq!(anthropic_text(&llm).await, "echo: hello there");
    llm.set_fallback(Reply::text("fallback"));
    assert_eq!(openai_text(&llm).await, "fallback");
    assert_eq!(openai_text(&llm).await, "fallback");
    llm.push(Reply::text("queued again"));
    assert_eq!(openai_text(&llm).await, "queued again");
    assert_eq!(llm.request_count(), 7);
}

#[tokio::test]
async fn records_requests_with_headers_and_bodies() {
    let llm = ScriptedLlm::start().await;
    post_json(&openai_url(&llm), &openai_body(false)).await;
    post_text(&anthropic_url(&llm), &anthropic_body(true)).await;

    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(llm.request_count(), 2);

    let openai = &requests[0];
    assert_eq!(openai.wire, Wire::OpenAi);
    assert_eq!(openai.body, openai_body(false));
    assert!(!openai.stream);
    assert_eq!(openai.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(openai.header("content-type"), Some("application/json"));
    assert_eq!(openai.model(), Some("gpt-test"));
    assert_eq!(openai.system_text(), "You are a test.");
    assert_eq!(openai.last_user_text().as_deref(), Some("hello there"));
    assert_eq!(openai.messages().len(), 2);

    let anthropic = &requests[1];
    assert_eq!(anthropic.wire, Wire::Anthropic);
    assert!(anthropic.stream);
    assert_eq!(anthropic.header("x-api-key"), Some("test-key"));
    assert_eq!(anthropic.system_text(), "You are a test.");
    assert_eq!(anthropic.last_user_text().as_deref(), Some("hello there"));
    assert_eq!(llm.last_request().as_ref(), Some(anthropic));

    llm.clear_requests();
    assert!(llm.requests().is_empty());
    assert_eq!(llm.request_count(), 0);
}

#[tokio::test]
async fn recording_off_still_counts() {
    let llm = ScriptedLlm::start_with(ServerOptions {
        record: false,
        fallback: Reply::text("fast"),
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(openai_text(&llm).await, "fast");
    assert_eq!(anthropic_text(&llm).await, "fast");
    assert!(llm.requests().is_empty());
    assert_eq!(llm.request_count(), 2);

    llm.set_recording(true);
    openai_text(&llm).await;
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(llm.request_count(), 3);
}

#[tokio::test]
async fn slow_requests_are_visible_while_waiting() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("eventually").delayed(Duration::from_secs(1)));
    let url = openai_url(&llm);
    let pending = tokio::spawn(async move { post_json(&url, &openai_body(false)).await });
    assert!(llm.wait_for_requests(1, Duration::from_secs(5)).await);
    assert_eq!(llm.requests().len(), 1);
    assert!(!pending.is_finished());
    let (_, body) = pending.await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "eventually");
    assert!(!llm.wait_for_requests(2, Duration::from_millis(50)).await);
}

#[tokio::test]
async fn chunk_options_shape_the_stream() {
    let llm = ScriptedLlm::start_with(ServerOptions {
        chunks: 2,
        chunk_delay: Duration::from_millis(20),
        fallback: Reply::text("a b c d e"),
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let (_, _, text) = post_text(&openai_url(&llm), &openai_body(true)).await;
    let contents: Vec<String> = parse_sse(&text)
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            let chunk: Value = serde_json::from_str(&e.data).unwrap();
            chunk["choices"][0]["delta"]["content"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(contents, ["", "a b ", "c d e"]);
}

/// Sends raw HTTP/1.1 and reads one response with a Content-Length body.
async fn raw_exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if received.len() >= head_end + 4 + length {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test]
async fn connections_are_kept_alive() {
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(Reply::text("again"));
    let body = openai_body(false).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(llm.addr()).await.unwrap();
    for _ in 0..3 {
        let response = raw_exchange(&mut stream, &request).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(!response.to_ascii_lowercase().contains("connection: close"));
        assert!(response.contains(r#""content":"again""#));
    }
    assert_eq!(llm.request_count(), 3);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let llm = ScriptedLlm::start().await;
    let addr = llm.addr();
    // A pooled keep-alive connection must be closed too.
    let mut open = TcpStream::connect(addr).await.unwrap();
    drop(llm);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "open connection closed: {read:?}");
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener closed");
}

#[tokio::test]
async fn base_urls() {
    let llm = ScriptedLlm::start().await;
    let port = llm.addr().port();
    assert_eq!(llm.openai_base_url(), format!("http://127.0.0.1:{port}/v1"));
    assert_eq!(llm.anthropic_base_url(), format!("http://127.0.0.1:{port}"));
    assert!(format!("{llm:?}").contains("ScriptedLlm"));
}

#[tokio::test]
async fn serde_form_is_tagged() {
    let reply = Reply::text("x").with_usage(1, 2);
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"type": "usage", "input_tokens": 1, "output_tokens": 2, "reply": {"type": "text", "text": "x"}})
    );
}
