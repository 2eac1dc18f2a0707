//! `POST /v1/chat/completions`, streaming and not.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use herald_core::Message;
use herald_core::backend::{BackendError, History};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

fn user(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

fn with_header(
    mut req: axum::http::Request<axum::body::Body>,
    name: &str,
    value: &str,
) -> axum::http::Request<axum::body::Body> {
    req.headers_mut().insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    req
}

#[tokio::test]
async fn a_completion_has_the_openai_shape() {
    let app = app();
    app.backend.push(script(vec![delta("Hello"), delta(" there"), Step::Usage(11, 4)], End::Complete));
    let r = app
        .send(post(
            "/v1/chat/completions",
            json!({"model": "hermes-agent", "messages": [{"role": "user", "content": "hi"}]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    let id = b["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && id.len() == 38, "{id}");
    assert_eq!(b["object"], "chat.completion");
    assert!(b["created"].as_u64().is_some());
    assert_eq!(b["model"], "hermes-agent");
    assert_eq!(
        b["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}])
    );
    assert_eq!(b["usage"], json!({"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}));
    assert!(b.get("hermes").is_none());
    assert_eq!(r.header("x-hermes-session-id"), Some("api-25f140a6575bf25c"));
    assert!(r.header("x-hermes-completed").is_none());
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn system_history_and_input_reach_the_turn() {
    let app = app();
    let body = json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Arr"},
            {"role": "tool", "content": "ignored", "tool_call_id": "t"},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Where"}, {"type": "input_text", "text": "is it?"}]}
        ]
    });
    let r = app.send(post("/v1/chat/completions", body)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["model"], "fast");
    let turn = app.backend.last_turn();
    assert!(turn.session_id.starts_with("api-") && turn.session_id.len() == 20, "{}", turn.session_id);
    assert_eq!(turn.ephemeral_system.as_deref(), Some("You are a pirate.\nBe brief."));
    assert_eq!(provided(&turn), vec![Message::user("Hello"), Message::assistant("Arr")]);
    assert_eq!(turn.input, "Where\nis it?");
    // A route alias is passed through for the backend to resolve.
    assert_eq!(turn.model.as_deref(), Some("fast"));
    assert_eq!(turn.session_key, None);
}

#[tokio::test]
async fn the_derived_session_is_stable_across_turns_of_one_conversation() {
    let app = app();
    let first =
        json!({"messages": [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hello"}]});
    let later = json!({"messages": [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Arr"},
        {"role": "user", "content": "And then?"}
    ]});
    for body in [first, later] {
        let r = app.send(post("/v1/chat/completions", body)).await;
        assert_eq!(r.header("x-hermes-session-id"), Some("api-96ab6318772ae8f9"));
        assert_eq!(app.backend.last_turn().session_id, "api-96ab6318772ae8f9");
    }
}

#[tokio::test]
async fn the_session_header_switches_to_the_stored_transcript() {
    let app = app();
    let req = with_header(
        with_header(
            post(
                "/v1/chat/completions",
                json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
            ),
            "x-hermes-session-id",
            "my-session",
        ),
        "x-hermes-session-key",
        "agent:main:webui:dm:u-42",
    );
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-hermes-session-id"), Some("my-session"));
    assert_eq!(r.header("x-hermes-session-key"), Some("agent:main:webui:dm:u-42"));
    let turn = app.backend.last_turn();
    assert_eq!(turn.session_id, "my-session");
    assert_eq!(turn.history, History::Stored);
    assert_eq!(turn.input, "c");
    assert_eq!(turn.session_key.as_deref(), Some("agent:main:webui:dm:u-42"));
}

#[tokio::test]
async fn bad_session_headers_are_refused_without_a_turn() {
    let app = app();
    let long = "x".repeat(257);
    for (name, value, code) in [
        ("x-hermes-session-id", "../etc/passwd", "invalid_session_id"),
        ("x-hermes-session-id", "a/b", "invalid_session_id"),
        ("x-hermes-session-id", "C:evil", "invalid_session_id"),
        ("x-hermes-session-id", "a\tb", "invalid_session_id"),
        ("x-hermes-session-id", long.as_str(), "invalid_session_id"),
        ("x-hermes-session-key", long.as_str(), "invalid_session_key"),
        ("x-hermes-session-key", "tab\tkey", "invalid_session_key"),
        ("idempotency-key", long.as_str(), "invalid_idempotency_key"),
    ] {
        let r = app.send(with_header(post("/v1/chat/completions", user("hi")), name, value)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {value}");
        assert_eq!(r.code(), code, "{name}: {value}");
    }
    // Non-text bytes in the header are refused too.
    let mut req = post("/v1/chat/completions", user("hi"));
    req.headers_mut().insert("x-hermes-session-id", axum::http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::BAD_REQUEST);
    assert!(app.backend.calls().is_empty());
}

#[tokio::test]
async fn content_problems_are_400s() {
    let app = app();
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}, {"type": "text", "text": "what?"}]}]}),
            "unsupported_content_type",
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]}),
            "unsupported_content_type",
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]}),
            "unsupported_content_type",
            "messages[0].content",
        ),
        (json!({"messages": [{"role": "system", "content": "only system"}]}), "missing_user_message", "messages"),
        (json!({"messages": [{"role": "user", "content": "   "}]}), "missing_user_message", "messages"),
        (json!({"messages": []}), "invalid_messages", "messages"),
        (json!({"messages": [{"role": "user", "content": "x"}, "oops"]}), "invalid_messages", "messages[1]"),
    ];
    for (body, code, param) in cases {
        let r = app.send(post("/v1/chat/completions", body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), code, "{body}");
        assert_eq!(r.json()["error"]["param"], param, "{body}");
    }
    let r = app.send(post("/v1/chat/completions", json!({"messages": [{"role": "system", "content": "x"}]}))).await;
    assert_eq!(r.json()["error"]["message"], "No user message found in messages");
    assert!(app.backend.calls().is_empty());
}

#[tokio::test]
async fn truncation_is_finish_reason_length_with_hermes_markers() {
    let app = app();
    app.backend.push(script(vec![delta("partial answ")], End::Truncate));
    let r = app.send(post("/v1/chat/completions", user("hi"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    assert_eq!(b["choices"][0]["finish_reason"], "length");
    assert_eq!(b["choices"][0]["message"]["content"], "partial answ");
    assert_eq!(b["hermes"]["completed"], false);
    assert_eq!(b["hermes"]["partial"], true);
    assert_eq!(b["hermes"]["failed"], false);
    assert_eq!(b["hermes"]["error_code"], "output_truncated");
    assert!(b["hermes"]["error"].as_str().unwrap().contains("truncated"));
    assert_eq!(r.header("x-hermes-completed"), Some("false"));
    assert_eq!(r.header("x-hermes-partial"), Some("true"));
    assert!(r.header("x-hermes-error").is_some());
}

#[tokio::test]
async fn a_failure_with_text_is_200_with_markers_and_without_text_is_502() {
    let app = app();
    app.backend.push(script(vec![delta("half")], End::Fail("provider exploded".into())));
    let r = app.send(post("/v1/chat/completions", user("hi"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    assert_eq!(b["choices"][0]["finish_reason"], "error");
    assert_eq!(
        b["hermes"],
        json!({"completed": false, "partial": true, "failed": true, "error": "provider exploded", "error_code": "agent_error"})
    );
    assert_eq!(r.header("x-hermes-error"), Some("provider exploded"));

    app.backend.push(script(vec![], End::Fail("provider exploded".into())));
    let r = app.send(post("/v1/chat/completions", user("hi"))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "provider exploded", "type": "server_error", "param": null, "code": "agent_incomplete", "hermes": {"completed": false, "partial": false, "failed": true}}})
    );
    assert_eq!(r.header("x-hermes-completed"), Some("false"));
    assert_eq!(r.header("x-hermes-partial"), Some("false"));
    assert_eq!(r.header("x-hermes-session-id"), Some("api-25f140a6575bf25c"));
}

#[tokio::test]
async fn backend_errors_are_500_and_never_echo_the_key() {
    let app = app();
    app.backend.push(script(vec![], End::Error(BackendError::Internal(format!("db down (key {KEY})")))));
    let r = app.send(post("/v1/chat/completions", user("hi"))).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let e = r.json();
    assert_eq!(e["error"]["type"], "server_error");
    assert_eq!(e["error"]["message"], "Internal server error: db down (key [REDACTED])");
    assert!(!r.text.contains(KEY));
}

#[tokio::test]
async fn stream_flag_accepts_strings() {
    let app = app();
    let r = app
        .send(post("/v1/chat/completions", json!({"stream": "false", "messages": [{"role": "user", "content": "x"}]})))
        .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = app
        .send(post("/v1/chat/completions", json!({"stream": "true", "messages": [{"role": "user", "content": "x"}]})))
        .await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
}

#[tokio::test]
async fn a_stream_is_role_content_tools_final_chunk_and_done() {
    let app = app();
    let mut steps = vec![delta("Let me "), delta("check.")];
    steps.extend(tool("call_1", "terminal", r#"{"command":"ls"}"#, "a b"));
    steps.extend(tool("call_2", "_thinking", "{}", ""));
    steps.push(Step::ToolEnd { id: "orphan".into(), name: "x".into(), ok: true, result: String::new() });
    steps.push(delta(" Done."));
    steps.push(Step::Usage(7, 3));
    app.backend.push(script(steps, End::Complete));
    let req = with_header(
        post("/v1/chat/completions", json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})),
        "x-hermes-session-key",
        "k1",
    );
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("x-accel-buffering"), Some("no"));
    assert_eq!(r.header("x-hermes-session-id"), Some("api-25f140a6575bf25c"));
    assert_eq!(r.header("x-hermes-session-key"), Some("k1"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let frames = r.frames();
    let kinds: Vec<String> = frames
        .iter()
        .map(|f| match (&f.event, &f.data) {
            (Some(e), _) => e.clone(),
            (None, Some(d)) if d == "[DONE]" => "DONE".into(),
            (None, Some(_)) => "chunk".into(),
            _ => "comment".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        ["chunk", "chunk", "chunk", "hermes.tool.progress", "hermes.tool.progress", "chunk", "chunk", "DONE"]
    );

    let role = frames[0].json();
    let id = role["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("chatcmpl-"));
    assert_eq!(role["object"], "chat.completion.chunk");
    assert_eq!(role["choices"], json!([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]));
    assert_eq!(frames[1].json()["choices"][0]["delta"], json!({"content": "Let me "}));
    assert_eq!(frames[2].json()["choices"][0]["delta"], json!({"content": "check."}));
    assert_eq!(frames[1].json()["id"], id.as_str());
    let running = frames[3].json();
    assert_eq!(running["tool"], "terminal");
    assert_eq!(running["toolCallId"], "call_1");
    assert_eq!(running["status"], "running");
    assert_eq!(running["label"], "terminal: ls");
    assert!(running["emoji"].as_str().is_some());
    assert_eq!(frames[4].json(), json!({"tool": "terminal", "toolCallId": "call_1", "status": "completed"}));
    let last = frames[6].json();
    assert_eq!(last["choices"], json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]));
    assert_eq!(last["usage"], json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}));
    assert!(last.get("error").is_none());
    assert_eq!(frames[7].data.as_deref(), Some("[DONE]"));
}

#[tokio::test]
async fn a_failed_stream_ends_with_an_error_chunk_then_done() {
    let app = app();
    app.backend.push(script(vec![delta("so far")], End::Fail("model gone".into())));
    let r = app
        .send(post("/v1/chat/completions", json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})))
        .await;
    let frames = r.frames();
    let last = frames[frames.len() - 2].json();
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["error"], json!({"message": "model gone", "type": "server_error"}));
    assert_eq!(last["hermes"]["failed"], true);
    assert_eq!(frames.last().unwrap().data.as_deref(), Some("[DONE]"));

    app.backend.push(script(vec![], End::Error(BackendError::Internal("db down".into()))));
    let r = app
        .send(post("/v1/chat/completions", json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})))
        .await;
    let frames = r.frames();
    let last = frames[frames.len() - 2].json();
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["error"]["type"], "server_error");
}

#[tokio::test]
async fn a_client_disconnect_cancels_the_turn() {
    let app = app();
    app.backend.push(script(vec![delta("thinking"), Step::Hang], End::Complete));
    let response = app
        .open(post("/v1/chat/completions", json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})))
        .await;
    let mut body = response.into_body();
    let role = next_chunk(&mut body).await.unwrap();
    assert!(role.contains("\"role\":\"assistant\""));
    let content = next_chunk(&mut body).await.unwrap();
    assert!(content.contains("thinking"));
    assert_eq!(app.backend.cancelled_count(), 0);
    assert_eq!(app.server.in_flight(), 1);
    drop(body);
    app.backend.wait_cancelled(1).await;
    // The partial answer was recorded, and the slot freed.
    let session = app.backend.last_turn().session_id;
    let stored: Vec<String> = app.backend.messages_of(&session).iter().map(|m| m.content.clone()).collect();
    assert_eq!(stored, ["hi", "thinking"]);
}

#[tokio::test]
async fn a_non_streaming_client_that_leaves_cancels_its_turn() {
    let app = app();
    app.backend.push(script(vec![Step::Hang], End::Complete));
    let router = app.router.clone();
    let call = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(post("/v1/chat/completions", user("hi"))).await
    });
    app.backend.wait_started(1).await;
    call.abort();
    app.backend.wait_cancelled(1).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_stream_gets_keepalive_comments() {
    let app = app();
    let gate = Arc::new(Semaphore::new(0));
    app.backend.push(script(vec![Step::Gate(gate.clone()), delta("late")], End::Complete));
    let response = app
        .open(post("/v1/chat/completions", json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})))
        .await;
    let mut body = response.into_body();
    next_chunk(&mut body).await.unwrap();
    // With the clock paused, waiting jumps straight to the 30 s keepalive.
    assert_eq!(next_chunk(&mut body).await.unwrap(), ": keepalive\n\n");
    gate.add_permits(1);
    assert!(next_chunk(&mut body).await.unwrap().contains("late"));
}

#[tokio::test]
async fn idempotent_retries_replay_the_first_reply() {
    let app = app();
    let req = || with_header(post("/v1/chat/completions", user("hi")), "idempotency-key", "retry-1");
    let first = app.send(req()).await;
    let second = app.send(req()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json(), second.json());
    assert_eq!(app.backend.turns().len(), 1);
    // Same key, different request: computed afresh (Hermes's behaviour).
    let other = app.send(with_header(post("/v1/chat/completions", user("other")), "idempotency-key", "retry-1")).await;
    assert_eq!(other.json()["choices"][0]["message"]["content"], "echo: other");
    assert_eq!(app.backend.turns().len(), 2);
    // A different session header is a different request.
    let scoped = app.send(with_header(req(), "x-hermes-session-id", "elsewhere")).await;
    assert_ne!(scoped.json()["id"], first.json()["id"]);
    assert_eq!(app.backend.turns().len(), 3);
}
