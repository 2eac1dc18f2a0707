//! The Anthropic Messages wire, every reply kind, streaming and not.

mod common;

use std::time::{Duration, Instant};

use common::*;
use herald_testkit::llm::{Reply, ScriptedLlm, ScriptedToolCall};
use serde_json::{Value, json};

/// The events of an Anthropic stream as `(event name, data)`, checking that
/// each event name matches its data's `type`.
fn events_of(text: &str) -> Vec<(String, Value)> {
    parse_sse(text)
        .into_iter()
        .map(|e| {
            let name = e.event.expect("Anthropic events are named");
            let data: Value = serde_json::from_str(&e.data).expect("event JSON");
            assert_eq!(data["type"], name.as_str());
            (name, data)
        })
        .collect()
}

async fn stream_events(llm: &ScriptedLlm, body: &Value) -> Vec<(String, Value)> {
    let (status, content_type, text) = post_text(&anthropic_url(llm), body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/event-stream; charset=utf-8");
    events_of(&text)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn message_start(id: &str, input_tokens: u64, output_tokens: u64) -> Value {
    json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": "claude-test",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    }})
}

fn text_delta(index: u64, text: &str) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}})
}

#[tokio::test]
async fn text_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hello there").with_usage(10, 2));
    let (status, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": "Hello there"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        })
    );
}

#[tokio::test]
async fn text_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hello there").with_usage(10, 2));
    let events = stream_events(&llm, &anthropic_body(true)).await;
    let data: Vec<Value> = events.into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        data,
        [
            message_start("msg_1", 10, 1),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            text_delta(0, "Hello "),
            text_delta(0, "there"),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ]
    );
}

#[tokio::test]
async fn default_usage_is_a_rough_count() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("one two three"));
    let (_, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(body["usage"]["output_tokens"], 3);
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn tool_calls_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::ToolCalls(vec![
        ScriptedToolCall::new("get_weather", json!({"city": "Paris", "days": 3})),
        ScriptedToolCall::new("get_time", json!({})),
    ]));
    let (_, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["content"],
        json!([
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": 3}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}
        ])
    );
}

#[tokio::test]
async fn tool_calls_streaming() {
    let llm = ScriptedLlm::start().await;
    let args = json!({"city": "Paris", "days": 3});
    llm.push(Reply::ToolCalls(vec![
        ScriptedToolCall::new("get_weather", args.clone()),
        ScriptedToolCall::new("get_time", json!({"zone": "CET"})),
    ]));
    let events = stream_events(&llm, &anthropic_body(true)).await;

    assert_eq!(events[0].0, "message_start");
    assert_eq!(
        events[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}})
    );
    assert_eq!(events[2].0, "ping");
    let block = |index: u64| -> (usize, String) {
        let fragments: Vec<&str> = events
            .iter()
            .filter(|(n, d)| n == "content_block_delta" && d["index"] == index)
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                d["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        (fragments.len(), fragments.concat())
    };
    let (count, json0) = block(0);
    assert!(count > 1, "input comes in several fragments");
    assert_eq!(serde_json::from_str::<Value>(&json0).unwrap(), args);
    assert_eq!(block(1).1, r#"{"zone":"CET"}"#);

    let stop0 = events.iter().position(|(n, d)| n == "content_block_stop" && d["index"] == 0).unwrap();
    assert_eq!(
        events[stop0 + 1].1,
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}})
    );
    let n = events.len();
    assert_eq!(names(&events)[n - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(events[n - 2].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(names(&events).iter().filter(|n| **n == "ping").count(), 1);
}

#[tokio::test]
async fn text_then_tool_calls() {
    let llm = ScriptedLlm::start().await;
    let reply =
        Reply::TextThenToolCalls("Let me check.".into(), vec![ScriptedToolCall::new("search", json!({"q": "rust"}))]);
    llm.push_all([reply.clone(), reply]);

    let (_, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(
        body["content"],
        json!([
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "rust"}}
        ])
    );
    assert_eq!(body["stop_reason"], "tool_use");

    let events = stream_events(&llm, &anthropic_body(true)).await;
    let expected_names = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
    ];
    assert_eq!(names(&events)[..expected_names.len()], expected_names);
    assert_eq!(events[3].1, text_delta(0, "Let "));
    assert_eq!(events[5].1, text_delta(0, "check."));
    assert_eq!(events[7].1["index"], 1);
    assert_eq!(events[7].1["content_block"]["id"], "toolu_2");
    assert_eq!(events[events.len() - 2].1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn errors_use_the_anthropic_envelope() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::rate_limited(3), Reply::error(529), Reply::error(500)]);

    let response = post(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Scripted error (HTTP 429)."}})
    );

    let (status, body) = post_json(&anthropic_url(&llm), &anthropic_body(true)).await;
    assert_eq!(status, 529);
    assert_eq!(body["error"]["type"], "overloaded_error");

    let (status, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["type"], "api_error");
}

#[tokio::test]
async fn malformed_json() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::MalformedJson, Reply::MalformedJson]);

    let (status, content_type, text) = post_text(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert!(text.starts_with(r#"{"id":"msg_1""#), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let (status, _, text) = post_text(&anthropic_url(&llm), &anthropic_body(true)).await;
    assert_eq!(status, 200);
    let events = parse_sse(&text);
    let bad: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| serde_json::from_str::<Value>(&e.data).is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(bad, [3], "one bad data line, after the ping: {text}");
    assert_eq!(events[3].event.as_deref(), Some("content_block_delta"));
    assert_eq!(events.last().unwrap().event.as_deref(), Some("message_stop"));
}

#[tokio::test]
async fn cut_stream() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::cut_stream("Half of it"), Reply::cut_stream("Half of it")]);

    let response = post(&anthropic_url(&llm), &anthropic_body(true)).await;
    let (text, clean) = read_until_end(response).await;
    assert!(!clean, "the connection must break");
    let events = events_of(&text);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta"
        ]
    );
    assert_eq!(events[5].1, text_delta(0, "it"));

    let response = post(&anthropic_url(&llm), &anthropic_body(false)).await;
    let promised: usize = header(&response, "content-length").parse().unwrap();
    let (text, clean) = read_until_end(response).await;
    assert!(!clean && text.len() < promised);
}

#[tokio::test]
async fn slow_then_text() {
    let llm = ScriptedLlm::start().await;
    let delay = Duration::from_millis(250);
    llm.push(Reply::text("finally").delayed(delay));
    let started = Instant::now();
    let events = stream_events(&llm, &anthropic_body(true)).await;
    assert!(started.elapsed() >= delay);
    assert_eq!(events[3].1, text_delta(0, "finally"));
}

#[tokio::test]
async fn echo_skips_tool_results() {
    let llm = ScriptedLlm::start().await;
    let body = json!({
        "model": "claude-test",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather in Oslo?"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"}]}
        ]
    });
    let (_, response) = post_json(&anthropic_url(&llm), &body).await;
    assert_eq!(response["content"][0]["text"], "echo: weather in Oslo?");
}

#[tokio::test]
async fn empty_text_still_has_a_text_block() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::text(""), Reply::text("")]);
    let (_, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(body["content"], json!([{"type": "text", "text": ""}]));
    let events = stream_events(&llm, &anthropic_body(true)).await;
    assert_eq!(
        names(&events),
        ["message_start", "content_block_start", "ping", "content_block_stop", "message_delta", "message_stop"]
    );
}
