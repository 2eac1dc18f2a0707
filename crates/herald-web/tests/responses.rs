//! `/v1/responses`: shapes, storage and chaining, streaming events.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use herald_core::Message;
use serde_json::{Value, json};

#[tokio::test]
async fn a_response_lists_tool_items_then_the_message_and_is_stored() {
    let app = app();
    let mut steps = vec![];
    steps.extend(tool("call_9", "clock", "{}", "12:00"));
    steps.push(delta("It is noon."));
    steps.push(Step::Usage(20, 5));
    app.backend.push(script(steps, End::Complete));
    let r = app.send(post("/v1/responses", json!({"input": "time?", "instructions": "Be exact."}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("resp_") && id.len() == 33, "{id}");
    assert_eq!(b["object"], "response");
    assert_eq!(b["status"], "completed");
    assert_eq!(b["model"], "hermes-agent");
    assert!(b["created_at"].as_u64().is_some());
    assert_eq!(
        b["output"],
        json!([
            {"type": "function_call", "name": "clock", "arguments": "{}", "call_id": "call_9"},
            {"type": "function_call_output", "call_id": "call_9", "output": "12:00"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is noon."}]}
        ])
    );
    assert_eq!(b["usage"], json!({"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}));
    let session = r.header("x-hermes-session-id").unwrap().to_string();
    assert_eq!(session.len(), 36, "a UUID: {session}");
    let turn = app.backend.last_turn();
    assert_eq!(turn.ephemeral_system.as_deref(), Some("Be exact."));
    assert_eq!(turn.input, "time?");
    assert!(provided(&turn).is_empty());

    let stored = app.backend.stored_response(&id).unwrap();
    assert_eq!(stored["session_id"], session.as_str());
    assert_eq!(stored["instructions"], "Be exact.");
    let got = app.send(get(&format!("/v1/responses/{id}"))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), b);
}

#[tokio::test]
async fn previous_response_id_chains_history_instructions_and_session() {
    let app = app();
    app.backend.push(script(vec![delta("Paris.")], End::Complete));
    let first = app
        .send(post("/v1/responses", json!({"input": "Capital of France?", "instructions": "Short answers."})))
        .await
        .json();
    let first_session = app.backend.last_turn().session_id;
    let r = app.send(post("/v1/responses", json!({"input": "And Italy?", "previous_response_id": first["id"]}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let turn = app.backend.last_turn();
    assert_eq!(turn.session_id, first_session);
    assert_eq!(turn.ephemeral_system.as_deref(), Some("Short answers."));
    assert_eq!(provided(&turn), vec![Message::user("Capital of France?"), Message::assistant("Paris.")]);
    assert_eq!(r.header("x-hermes-session-id"), Some(first_session.as_str()));

    // Explicit history wins over the chain.
    app.send(post("/v1/responses", json!({"input": "q", "previous_response_id": first["id"], "conversation_history": [{"role": "user", "content": "other"}]}))).await;
    let turn = app.backend.last_turn();
    assert_eq!(provided(&turn), vec![Message::user("other")]);
    assert_ne!(turn.session_id, first_session);
}

#[tokio::test]
async fn an_unknown_previous_response_is_404() {
    let app = app();
    let r = app.send(post("/v1/responses", json!({"input": "x", "previous_response_id": "resp_nope"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["message"], "Previous response not found: resp_nope");
    assert!(app.backend.turns().is_empty());
}

#[tokio::test]
async fn named_conversations_chain_automatically() {
    let app = app();
    app.send(post("/v1/responses", json!({"input": "one", "conversation": "c1"}))).await;
    app.send(post("/v1/responses", json!({"input": "two", "conversation": "c1"}))).await;
    let turn = app.backend.last_turn();
    assert_eq!(provided(&turn), vec![Message::user("one"), Message::assistant("echo: one")]);
    let r = app
        .send(post("/v1/responses", json!({"input": "x", "conversation": "c1", "previous_response_id": "resp_1"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["message"], "Cannot use both 'conversation' and 'previous_response_id'");
}

#[tokio::test]
async fn input_arrays_truncation_and_store_false() {
    let app = app();
    let mut history: Vec<Value> = (0..150).map(|i| json!({"role": "user", "content": format!("m{i}")})).collect();
    history.push(json!("last"));
    let r = app.send(post("/v1/responses", json!({"input": history, "truncation": "auto", "store": false}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let turn = app.backend.last_turn();
    let h = provided(&turn);
    assert_eq!(h.len(), 100);
    assert_eq!(h[0].content, "m50");
    assert_eq!(turn.input, "last");
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(app.backend.stored_response(&id).is_none());
    assert_eq!(app.send(get(&format!("/v1/responses/{id}"))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failed_and_truncated_turns_say_so_in_status() {
    let app = app();
    app.backend.push(script(vec![], End::Fail("model down".into())));
    let b = app.send(post("/v1/responses", json!({"input": "x"}))).await.json();
    assert_eq!(b["status"], "failed");
    assert_eq!(b["error"], json!({"message": "model down", "type": "server_error"}));
    assert_eq!(b["output"].as_array().unwrap().last().unwrap()["content"][0]["text"], "model down");
    app.backend.push(script(vec![delta("cut")], End::Truncate));
    let b = app.send(post("/v1/responses", json!({"input": "x"}))).await.json();
    assert_eq!(b["status"], "incomplete");
    assert_eq!(b["incomplete_details"], json!({"reason": "max_output_tokens"}));
}

#[tokio::test]
async fn get_and_delete_stored_responses() {
    let app = app();
    let id = app.send(post("/v1/responses", json!({"input": "x"}))).await.json()["id"].as_str().unwrap().to_string();
    let r = app.send(request(Method::DELETE, &format!("/v1/responses/{id}"), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"id": id, "object": "response", "deleted": true}));
    let r = app.send(request(Method::DELETE, &format!("/v1/responses/{id}"), None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["message"], format!("Response not found: {id}"));
    let r = app.send(get(&format!("/v1/responses/{id}"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Ids that could not be ours are not looked up at all.
    let before = app.backend.calls().len();
    let r = app.send(get("/v1/responses/..%2Fetc")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.backend.calls().len(), before);
}

#[tokio::test]
async fn a_stream_emits_openai_response_events_in_order() {
    let app = app();
    let mut steps = vec![delta("Checking")];
    steps.extend(tool("call_1", "search", r#"{"query":"rust"}"#, "found it"));
    steps.push(delta(" done."));
    steps.push(Step::Usage(9, 2));
    app.backend.push(script(steps, End::Complete));
    let r = app.send(post("/v1/responses", json!({"input": "go", "stream": true}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let frames = r.frames();
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_text.delta",
            "response.output_text.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, f) in frames.iter().enumerate() {
        let d = f.json();
        assert_eq!(d["sequence_number"], i, "{d}");
        assert_eq!(d["type"], f.event.as_deref().unwrap());
    }
    let created = frames[0].json();
    assert_eq!(created["response"]["status"], "in_progress");
    assert_eq!(created["response"]["output"], json!([]));
    let msg = frames[1].json();
    assert_eq!(msg["item"]["type"], "message");
    assert_eq!(msg["output_index"], 0);
    let item_id = msg["item"]["id"].as_str().unwrap().to_string();
    assert!(item_id.starts_with("msg_"));
    let d = frames[2].json();
    assert_eq!(
        (d["item_id"].as_str().unwrap(), d["delta"].as_str().unwrap(), d["content_index"].as_u64().unwrap()),
        (item_id.as_str(), "Checking", 0)
    );
    assert_eq!(d["logprobs"], json!([]));
    let fc = frames[3].json();
    assert_eq!(fc["output_index"], 1);
    assert_eq!(fc["item"]["type"], "function_call");
    assert_eq!(fc["item"]["call_id"], "call_1");
    assert_eq!(fc["item"]["status"], "in_progress");
    assert!(fc["item"]["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(frames[4].json()["item"]["status"], "completed");
    let fco = frames[5].json();
    assert_eq!(fco["item"]["type"], "function_call_output");
    assert_eq!(fco["item"]["output"], json!([{"type": "input_text", "text": "found it"}]));
    assert!(fco["item"]["id"].as_str().unwrap().starts_with("fco_"));
    assert_eq!(frames[8].json()["text"], "Checking done.");
    let done = frames[10].json()["response"].clone();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"], json!({"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}));
    let out = done["output"].as_array().unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[2]["content"][0]["text"], "Checking done.");
    // The terminal snapshot is stored and retrievable.
    let id = done["id"].as_str().unwrap();
    assert_eq!(app.send(get(&format!("/v1/responses/{id}"))).await.json(), done);
}

#[tokio::test]
async fn a_failed_stream_ends_with_response_failed() {
    let app = app();
    app.backend.push(script(vec![], End::Fail("no model".into())));
    let frames = app.send(post("/v1/responses", json!({"input": "go", "stream": "true"}))).await.frames();
    let last = frames.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
    let resp = last.json()["response"].clone();
    assert_eq!(resp["status"], "failed");
    assert_eq!(resp["error"]["message"], "no model");
}

#[tokio::test]
async fn a_stream_left_midway_cancels_and_stores_an_incomplete_snapshot() {
    let app = app();
    app.backend.push(script(vec![delta("half"), Step::Hang], End::Complete));
    let response = app.open(post("/v1/responses", json!({"input": "go", "stream": true}))).await;
    let mut body = response.into_body();
    let created = parse_frames(&next_chunk(&mut body).await.unwrap())[0].json();
    let id = created["response"]["id"].as_str().unwrap().to_string();
    assert_eq!(app.backend.stored_response(&id).unwrap()["response"]["status"], "in_progress");
    let chunk = next_chunk(&mut body).await.unwrap();
    assert!(chunk.contains("output_item.added"), "{chunk}");
    drop(body);
    app.backend.wait_cancelled(1).await;
    let mut tries = 0;
    while app.backend.stored_response(&id).unwrap()["response"]["status"] != "incomplete" && tries < 1000 {
        tokio::task::yield_now().await;
        tries += 1;
    }
    let stored = app.backend.stored_response(&id).unwrap();
    assert_eq!(stored["response"]["status"], "incomplete");
    assert_eq!(stored["response"]["output"][0]["content"][0]["text"], "half");
}

#[tokio::test]
async fn idempotent_responses_replay() {
    let app = app();
    let mk = || {
        let mut r = post("/v1/responses", json!({"input": "hello"}));
        r.headers_mut().insert("idempotency-key", "k-1".parse().unwrap());
        r
    };
    let a = app.send(mk()).await.json();
    let b = app.send(mk()).await.json();
    assert_eq!(a, b);
    assert_eq!(app.backend.turns().len(), 1);
}

#[tokio::test]
async fn image_inputs_are_refused_clearly() {
    let app = app();
    let r = app
        .send(post(
            "/v1/responses",
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "unsupported_content_type");
    assert_eq!(r.json()["error"]["param"], "input[0].content");
    assert!(app.backend.calls().is_empty());
}
