//! `/v1/runs`: start, status, events (late and live), stop, approval.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use herald_core::Message;
use herald_core::backend::History;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

async fn start(app: &App, body: Value) -> String {
    let r = app.send(post("/v1/runs", body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let b = r.json();
    assert_eq!(b["status"], "started");
    let id = b["run_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("run_") && id.len() == 36, "{id}");
    id
}

/// Polls the status until it is terminal (bounded by the backend finishing).
async fn ended(app: &App, id: &str) -> Value {
    for _ in 0..10_000 {
        let s = app.send(get(&format!("/v1/runs/{id}"))).await.json();
        if ["completed", "failed", "cancelled"].contains(&s["status"].as_str().unwrap()) {
            return s;
        }
        tokio::task::yield_now().await;
    }
    panic!("run {id} did not end");
}

#[tokio::test]
async fn a_late_subscriber_sees_every_event_then_stream_closed() {
    let app = app();
    let mut steps = vec![Step::Reasoning("hmm ".into()), Step::Reasoning("ok".into()), delta("Hi")];
    steps.extend(tool("c1", "clock", "{}", "noon"));
    steps.push(Step::ToolStart { id: "c2".into(), name: "web".into(), args: r#"{"url":"https://x"}"#.into() });
    steps.push(Step::ToolEnd { id: "c2".into(), name: "web".into(), ok: false, result: "404".into() });
    steps.push(delta(" there"));
    steps.push(Step::Usage(4, 2));
    app.backend.push(script(steps, End::Complete));
    let id = start(&app, json!({"input": "hello", "instructions": "Be kind.", "model": "fast"})).await;
    let status = ended(&app, &id).await;
    assert_eq!(status["object"], "hermes.run");
    assert_eq!(status["run_id"], id.as_str());
    assert_eq!(status["status"], "completed");
    assert_eq!(status["session_id"], id.as_str());
    assert_eq!(status["model"], "fast");
    assert_eq!(status["output"], "Hi there");
    assert_eq!(status["usage"], json!({"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}));
    assert_eq!(status["last_event"], "run.completed");
    assert_eq!(status["error"], Value::Null);
    assert!(status["created_at"].as_f64().unwrap() <= status["updated_at"].as_f64().unwrap());

    let turn = app.backend.last_turn();
    assert_eq!(turn.ephemeral_system.as_deref(), Some("Be kind."));
    assert_eq!(turn.model.as_deref(), Some("fast"));

    let r = app.send(get(&format!("/v1/runs/{id}/events"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let frames = r.frames();
    assert!(frames.iter().all(|f| f.event.is_none()), "run events are unnamed");
    assert_eq!(frames.last().unwrap().comment.as_deref(), Some("stream closed"));
    let events: Vec<Value> = frames.iter().filter(|f| f.data.is_some()).map(|f| f.json()).collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "reasoning.available",
            "message.delta",
            "tool.started",
            "tool.completed",
            "tool.started",
            "tool.completed",
            "message.delta",
            "run.completed"
        ]
    );
    for e in &events {
        assert_eq!(e["run_id"], id.as_str());
        assert!(e["timestamp"].as_f64().is_some());
    }
    assert_eq!(events[0]["text"], "hmm ok");
    assert_eq!(events[1]["delta"], "Hi");
    assert_eq!(events[2]["tool"], "clock");
    assert_eq!(events[2]["preview"], "clock");
    assert_eq!(events[3]["error"], false);
    assert!(events[3]["duration"].as_f64().is_some());
    assert_eq!(events[4]["preview"], "web: https://x");
    assert_eq!(events[5]["error"], true);
    assert_eq!(events[7]["output"], "Hi there");
    assert_eq!(events[7]["usage"]["total_tokens"], 6);
    // A second reader gets the same events (Hermes's queue would be empty by now).
    assert_eq!(app.send(get(&format!("/v1/runs/{id}/events"))).await.frames(), frames);
}

#[tokio::test]
async fn a_live_subscriber_follows_the_run() {
    let app = app();
    let gate = Arc::new(Semaphore::new(0));
    app.backend.push(script(vec![delta("one"), Step::Gate(gate.clone()), delta("two")], End::Complete));
    let id = start(&app, json!({"input": "x"})).await;
    let response = app.open(get(&format!("/v1/runs/{id}/events"))).await;
    let mut body = response.into_body();
    let first = next_chunk(&mut body).await.unwrap();
    assert!(first.contains("\"delta\":\"one\""), "{first}");
    gate.add_permits(1);
    let mut rest = String::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        rest.push_str(&chunk);
    }
    let names: Vec<String> = parse_frames(&rest)
        .iter()
        .map(|f| {
            f.data
                .as_ref()
                .map(|_| f.json()["event"].as_str().unwrap().to_string())
                .unwrap_or_else(|| f.comment.clone().unwrap())
        })
        .collect();
    assert_eq!(names, ["message.delta", "run.completed", "stream closed"]);
}

#[tokio::test]
async fn stop_cancels_the_run() {
    let app = app();
    app.backend.push(script(vec![delta("working"), Step::Hang], End::Complete));
    let id = start(&app, json!({"input": "x"})).await;
    app.backend.wait_started(1).await;
    let r = app.send(post(&format!("/v1/runs/{id}/stop"), json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"run_id": id, "status": "stopping"}));
    app.backend.wait_cancelled(1).await;
    let status = ended(&app, &id).await;
    assert_eq!(status["status"], "cancelled");
    let frames = app.send(get(&format!("/v1/runs/{id}/events"))).await.frames();
    let last_event = frames.iter().rev().find(|f| f.data.is_some()).unwrap().json();
    assert_eq!(last_event["event"], "run.cancelled");
    // A finished run cannot be stopped again.
    assert_eq!(app.send(post(&format!("/v1/runs/{id}/stop"), json!({}))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_run_reports_run_failed() {
    let app = app();
    app.backend.push(script(vec![], End::Fail("quota".into())));
    let id = start(&app, json!({"input": "x"})).await;
    let status = ended(&app, &id).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"], "quota");
    let frames = app.send(get(&format!("/v1/runs/{id}/events"))).await.frames();
    assert_eq!(frames[0].json()["event"], "run.failed");
    assert_eq!(frames[0].json()["error"], "quota");
}

#[tokio::test]
async fn unknown_runs_are_404_run_not_found() {
    let app = app();
    for (path, post_it) in [
        ("/v1/runs/run_x", false),
        ("/v1/runs/run_x/events", false),
        ("/v1/runs/run_x/stop", true),
        ("/v1/runs/run_x/approval", true),
    ] {
        let r = if post_it { app.send(post(path, json!({"choice": "once"}))).await } else { app.send(get(path)).await };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.code(), "run_not_found");
        assert_eq!(r.json()["error"]["message"], "Run not found: run_x");
    }
}

#[tokio::test]
async fn approvals_are_never_active() {
    let app = app();
    let id = start(&app, json!({"input": "x"})).await;
    let r = app.send(post(&format!("/v1/runs/{id}/approval"), json!({"choice": "approve"}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "approval_not_active");
    let r = app.send(post(&format!("/v1/runs/{id}/approval"), json!({"choice": "maybe"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_approval_choice");
}

#[tokio::test]
async fn run_inputs_history_and_sessions() {
    let app = app();
    // An input array: earlier items are history, the last is the prompt.
    start(&app, json!({"input": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]})).await;
    app.backend.wait_started(1).await;
    let t = app.backend.last_turn();
    assert_eq!(provided(&t), vec![Message::user("a"), Message::assistant("b")]);
    assert_eq!(t.input, "c");
    // A named session with no history continues its stored transcript.
    start(&app, json!({"input": "go on", "session_id": "s-1"})).await;
    app.backend.wait_started(2).await;
    let t = app.backend.last_turn();
    assert_eq!(t.session_id, "s-1");
    assert_eq!(t.history, History::Stored);
    // The chain of a stored response.
    let resp = app.send(post("/v1/responses", json!({"input": "q1", "instructions": "I"}))).await;
    let resp_session = resp.header("x-hermes-session-id").unwrap().to_string();
    start(&app, json!({"input": "q2", "previous_response_id": resp.json()["id"]})).await;
    app.backend.wait_started(4).await;
    let t = app.backend.last_turn();
    assert_eq!(t.session_id, resp_session);
    assert_eq!(t.ephemeral_system.as_deref(), Some("I"));
    assert_eq!(provided(&t), vec![Message::user("q1"), Message::assistant("echo: q1")]);
    // Unlike Hermes, an unknown previous response is an error rather than silently ignored.
    let r = app.send(post("/v1/runs", json!({"input": "x", "previous_response_id": "resp_gone"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Bad inputs never start a turn.
    let before = app.backend.turns().len();
    for body in [
        json!({}),
        json!({"input": ""}),
        json!({"input": []}),
        json!({"input": "x", "session_id": "../up"}),
        json!({"input": "x", "conversation_history": [1]}),
    ] {
        assert_eq!(app.send(post("/v1/runs", body.clone())).await.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(app.backend.turns().len(), before);
}

#[tokio::test]
async fn the_session_key_is_echoed() {
    let app = app();
    let mut req = post("/v1/runs", json!({"input": "x"}));
    req.headers_mut().insert("x-hermes-session-key", "scope-1".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("x-hermes-session-key"), Some("scope-1"));
    app.backend.wait_started(1).await;
    assert_eq!(app.backend.last_turn().session_key.as_deref(), Some("scope-1"));
}
