//! `/api/sessions`: the resource API and session chat.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::*;
use herald_core::Role;
use herald_core::backend::History;
use serde_json::{Value, json};

#[tokio::test]
async fn create_get_list_patch_delete() {
    let app = app();
    let r =
        app.send(post("/api/sessions", json!({"id": "s-1", "title": "First", "system_prompt": "secret prompt"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let b = r.json();
    assert_eq!(b["object"], "hermes.session");
    let s = &b["session"];
    assert_eq!(s["id"], "s-1");
    assert_eq!(s["title"], "First");
    assert_eq!(s["model"], "hermes-agent");
    assert_eq!(s["source"], "api_server");
    assert_eq!(s["has_system_prompt"], true);
    assert!(!r.text.contains("secret prompt"), "the system prompt is not exposed");

    let dup = app.send(post("/api/sessions", json!({"session_id": "s-1"}))).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "session_exists");
    assert_eq!(dup.json()["error"]["message"], "Session already exists: s-1");

    // No id: api_<unix>_<8 hex>; an empty body is allowed.
    let r = app.send(request(Method::POST, "/api/sessions", None)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let generated = r.json()["session"]["id"].as_str().unwrap().to_string();
    let parts: Vec<&str> = generated.split('_').collect();
    assert_eq!(parts.len(), 3, "{generated}");
    assert_eq!(parts[0], "api");
    assert_eq!(parts[2].len(), 8);

    let got = app.send(get("/api/sessions/s-1")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["session"]["title"], "First");

    let list = app.send(get("/api/sessions?limit=1&offset=0")).await.json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["limit"], 1);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["has_more"], true);
    let list = app.send(get("/api/sessions?limit=abc&source=api_server")).await.json();
    assert_eq!(list["limit"], 50);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["has_more"], false);

    let patched = app
        .send(request(Method::PATCH, "/api/sessions/s-1", Some(json!({"title": "Renamed", "end_reason": "done"}))))
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.json()["session"]["title"], "Renamed");
    assert_eq!(patched.json()["session"]["end_reason"], "done");
    let bad = app.send(request(Method::PATCH, "/api/sessions/s-1", Some(json!({"model": "x", "pinned": true})))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.code(), "unsupported_session_field");
    assert_eq!(bad.json()["error"]["message"], "Unsupported session fields: model, pinned");
    let cleared = app.send(request(Method::PATCH, "/api/sessions/s-1", Some(json!({"title": null})))).await;
    assert_eq!(cleared.json()["session"]["title"], Value::Null);

    let del = app.send(request(Method::DELETE, "/api/sessions/s-1", None)).await;
    assert_eq!(del.json(), json!({"object": "hermes.session.deleted", "id": "s-1", "deleted": true}));
    let gone = app.send(get("/api/sessions/s-1")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "session_not_found");
    assert_eq!(gone.json()["error"]["message"], "Session not found: s-1");
    assert_eq!(app.send(request(Method::DELETE, "/api/sessions/s-1", None)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn messages_and_fork() {
    let app = app();
    app.backend.add_session("s");
    app.backend.add_message("s", Role::User, "hi");
    app.backend.add_message("s", Role::Assistant, "hello");
    let r = app.send(get("/api/sessions/s/messages")).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    assert_eq!(b["object"], "list");
    assert_eq!(b["session_id"], "s");
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["role"], "user");
    assert_eq!(data[0]["content"], "hi");
    for key in
        ["id", "session_id", "tool_call_id", "tool_calls", "tool_name", "timestamp", "token_count", "finish_reason"]
    {
        assert!(data[0].as_object().unwrap().contains_key(key), "{key}");
    }
    let fork = app.send(post("/api/sessions/s/fork", json!({"title": "Branch"}))).await;
    assert_eq!(fork.status, StatusCode::CREATED);
    let child = fork.json()["session"].clone();
    assert_eq!(child["parent_session_id"], "s");
    assert_eq!(child["title"], "Branch");
    let child_id = child["id"].as_str().unwrap();
    assert_eq!(
        app.send(get(&format!("/api/sessions/{child_id}/messages"))).await.json()["data"].as_array().unwrap().len(),
        2
    );
    assert_eq!(app.send(get("/api/sessions/s")).await.json()["session"]["end_reason"], "branched");
    // An empty body forks too; choosing the child's id is refused.
    assert_eq!(app.send(request(Method::POST, "/api/sessions/s/fork", None)).await.status, StatusCode::CREATED);
    let r = app.send(post("/api/sessions/s/fork", json!({"id": "mine"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.send(post("/api/sessions/nope/fork", json!({}))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.send(get("/api/sessions/nope/messages")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unsafe_session_ids_never_reach_the_backend() {
    let app = app();
    for path in [
        "/api/sessions/..%2Fetc",
        "/api/sessions/a%2Fb",
        "/api/sessions/C:x/messages",
        "/api/sessions/..",
        "/api/sessions/a%0Ab",
    ] {
        let r = app.send(get(path)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.code(), "invalid_session_id", "{path}");
    }
    let long = "x".repeat(257);
    for body in [
        json!({"id": "../x"}),
        json!({"id": "a\r\nb"}),
        json!({"id": "a\u{0}b"}),
        json!({"id": long}),
        json!({"id": ["x"]}),
    ] {
        let r = app.send(post("/api/sessions", body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), "invalid_session_id", "{body}");
    }
    let r = app.send(post("/api/sessions/..%2Fx/chat", json!({"message": "hi"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.backend.calls().is_empty(), "{:?}", app.backend.calls());
}

#[tokio::test]
async fn session_chat_uses_the_stored_transcript() {
    let app = app();
    app.backend.add_session("s");
    app.backend.push(script(vec![delta("Sure."), Step::Usage(5, 1)], End::Complete));
    let mut req = post(
        "/api/sessions/s/chat",
        json!({"message": [{"type": "text", "text": "Help?"}], "system_message": "Be brief."}),
    );
    req.headers_mut().insert("x-hermes-session-key", "k".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({
            "object": "hermes.session.chat.completion",
            "session_id": "s",
            "message": {"role": "assistant", "content": "Sure."},
            "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}
        })
    );
    assert_eq!(r.header("x-hermes-session-id"), Some("s"));
    assert_eq!(r.header("x-hermes-session-key"), Some("k"));
    let t = app.backend.last_turn();
    assert_eq!((t.session_id.as_str(), t.input.as_str()), ("s", "Help?"));
    assert_eq!(t.history, History::Stored);
    assert_eq!(t.ephemeral_system.as_deref(), Some("Be brief."));
    // `input` and `instructions` are accepted as aliases.
    app.send(post("/api/sessions/s/chat", json!({"input": "again", "instructions": "I"}))).await;
    assert_eq!(app.backend.last_turn().ephemeral_system.as_deref(), Some("I"));
}

#[tokio::test]
async fn session_chat_refusals() {
    let app = app();
    let r = app.send(post("/api/sessions/none/chat", json!({"message": "hi"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "session_not_found");
    app.backend.add_session("s");
    for (body, code) in [
        (json!({}), "missing_message"),
        (json!({"message": "  "}), "missing_message"),
        (json!({"message": "hi", "system_message": 3}), "invalid_system_message"),
        (json!({"message": [{"type": "image_url", "image_url": {"url": "https://x"}}]}), "unsupported_content_type"),
    ] {
        let r = app.send(post("/api/sessions/s/chat", body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), code, "{body}");
    }
    assert!(app.backend.turns().is_empty());
    app.backend.push(script(vec![], End::Fail("boom".into())));
    let r = app.send(post("/api/sessions/s/chat", json!({"message": "hi"}))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.code(), "agent_incomplete");
}

#[tokio::test]
async fn the_session_stream_has_the_named_events() {
    let app = app();
    app.backend.add_session("s");
    let mut steps = vec![Step::Reasoning("plan".into()), delta("Look")];
    steps.extend(tool("t1", "clock", r#"{"tz":"UTC"}"#, "noon"));
    steps.push(Step::ToolStart { id: "t2".into(), name: "web".into(), args: "{}".into() });
    steps.push(Step::ToolEnd { id: "t2".into(), name: "web".into(), ok: false, result: "err".into() });
    steps.push(delta("ing."));
    steps.push(Step::Usage(2, 2));
    app.backend.push(script(steps, End::Complete));
    let r = app.send(post("/api/sessions/s/chat/stream", json!({"message": "time?"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("x-hermes-session-id"), Some("s"));
    let frames = r.frames();
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "run.started",
            "message.started",
            "tool.progress",
            "assistant.delta",
            "tool.started",
            "tool.completed",
            "tool.started",
            "tool.failed",
            "assistant.delta",
            "assistant.completed",
            "run.completed",
            "done"
        ]
    );
    let events: Vec<Value> = frames.iter().map(|f| f.json()).collect();
    let run_id = events[0]["run_id"].as_str().unwrap();
    assert!(run_id.starts_with("run_"));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["session_id"], "s");
        assert_eq!(e["run_id"], run_id);
        assert_eq!(e["seq"], i + 1);
        assert!(e["ts"].as_f64().is_some());
    }
    assert_eq!(events[0]["user_message"], json!({"role": "user", "content": "time?"}));
    let message_id = events[1]["message"]["id"].as_str().unwrap();
    assert_eq!(events[1]["message"]["role"], "assistant");
    assert_eq!(events[2]["delta"], "plan");
    assert_eq!(events[3]["message_id"], message_id);
    assert_eq!(events[3]["delta"], "Look");
    assert_eq!(events[4]["tool_name"], "clock");
    assert_eq!(events[4]["args"], json!({"tz": "UTC"}));
    assert_eq!(events[5]["preview"], events[4]["preview"]);
    assert_eq!(
        (
            events[9]["content"].as_str(),
            events[9]["completed"].as_bool(),
            events[9]["partial"].as_bool(),
            events[9]["interrupted"].as_bool()
        ),
        (Some("Looking."), Some(true), Some(false), Some(false))
    );
    assert_eq!(events[10]["usage"], json!({"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}));
    let turn_messages = events[10]["messages"].as_array().unwrap();
    assert_eq!(turn_messages.len(), 4, "assistant with calls, two results, the answer");
    assert_eq!(turn_messages[0]["tool_calls"][0]["function"]["name"], "clock");
    assert_eq!(events[11].as_object().unwrap().len(), 4, "done carries only the common fields");
}

#[tokio::test]
async fn a_failed_session_stream_sends_error_then_done() {
    let app = app();
    app.backend.add_session("s");
    app.backend.push(script(vec![], End::Fail("provider down".into())));
    let frames = app.send(post("/api/sessions/s/chat/stream", json!({"message": "x"}))).await.frames();
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(names, ["run.started", "message.started", "error", "done"]);
    assert_eq!(frames[2].json()["message"], "provider down");
}

#[tokio::test]
async fn leaving_a_session_stream_cancels_the_turn() {
    let app = app();
    app.backend.add_session("s");
    app.backend.push(script(vec![Step::Hang], End::Complete));
    let response = app.open(post("/api/sessions/s/chat/stream", json!({"message": "x"}))).await;
    let mut body: Body = response.into_body();
    assert!(next_chunk(&mut body).await.unwrap().contains("run.started"));
    app.backend.wait_started(1).await;
    drop(body);
    app.backend.wait_cancelled(1).await;
}
