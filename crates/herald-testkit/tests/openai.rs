//! The OpenAI chat-completions wire, every reply kind, streaming and not.

mod common;

use std::time::{Duration, Instant};

use common::*;
use herald_testkit::llm::{Reply, ScriptedLlm, ScriptedToolCall};
use serde_json::{Value, json};

/// The chunks of an OpenAI stream with the per-stream fields (id, object,
/// created, model) checked and removed; asserts the stream ends with `[DONE]`.
async fn stream_chunks(llm: &ScriptedLlm, body: &Value) -> Vec<Value> {
    let (status, content_type, text) = post_text(&openai_url(llm), body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/event-stream; charset=utf-8");
    let events = parse_sse(&text);
    let (last, chunks) = events.split_last().expect("events");
    assert_eq!(last.data, "[DONE]");
    assert!(events.iter().all(|e| e.event.is_none()), "OpenAI streams have no event names");
    let mut first_id = None;
    chunks
        .iter()
        .map(|e| {
            let mut chunk: Value = serde_json::from_str(&e.data).expect("chunk JSON");
            let map = chunk.as_object_mut().expect("object");
            let id = map.remove("id").expect("id");
            assert_eq!(first_id.get_or_insert_with(|| id.clone()), &id, "one id per stream");
            assert_eq!(map.remove("object"), Some(json!("chat.completion.chunk")));
            assert_eq!(map.remove("model"), Some(json!("gpt-test")));
            assert!(map.remove("created").and_then(|c| c.as_u64()).is_some());
            chunk
        })
        .collect()
}

fn delta(delta: Value) -> Value {
    json!({"choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]})
}

fn finish(reason: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}]})
}

fn with_null_usage(mut chunk: Value) -> Value {
    chunk["usage"] = Value::Null;
    chunk
}

/// Joins a stream's `arguments` fragments for tool call `index`.
fn joined_arguments(chunks: &[Value], index: u64) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .filter(|call| call["index"] == index)
        .map(|call| call["function"]["arguments"].as_str().expect("arguments"))
        .collect()
}

#[tokio::test]
async fn text_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hello there, how are you?").with_usage(12, 5));
    let (status, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(
        zero_created(body),
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-test",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, how are you?"},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        })
    );
}

#[tokio::test]
async fn default_usage_is_a_rough_count() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("one two three"));
    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens"], 3);
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 0);
    assert_eq!(usage["total_tokens"], prompt + 3);
}

#[tokio::test]
async fn text_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hello there, how are you?"));
    let chunks = stream_chunks(&llm, &openai_body(true)).await;
    assert_eq!(
        chunks,
        [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "Hello "})),
            delta(json!({"content": "there, "})),
            delta(json!({"content": "how "})),
            delta(json!({"content": "are "})),
            delta(json!({"content": "you?"})),
            finish("stop"),
        ]
    );
}

#[tokio::test]
async fn text_streaming_with_usage() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hi you").with_usage(40, 2));
    let mut body = openai_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = stream_chunks(&llm, &body).await;
    assert_eq!(
        chunks,
        [
            with_null_usage(delta(json!({"role": "assistant", "content": ""}))),
            with_null_usage(delta(json!({"content": "Hi "}))),
            with_null_usage(delta(json!({"content": "you"}))),
            with_null_usage(finish("stop")),
            json!({"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}}),
        ]
    );
}

#[tokio::test]
async fn long_text_is_streamed_in_at_most_the_configured_chunks() {
    let llm = ScriptedLlm::start().await;
    let text = "word ".repeat(100);
    llm.push(Reply::text(text.clone()));
    let chunks = stream_chunks(&llm, &openai_body(true)).await;
    let contents: Vec<&str> =
        chunks[1..chunks.len() - 1].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
    assert_eq!(contents.len(), 8);
    assert_eq!(contents.concat(), text);
}

#[tokio::test]
async fn tool_calls_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::ToolCalls(vec![
        ScriptedToolCall::new("get_weather", json!({"city": "Paris"})),
        ScriptedToolCall::new("get_time", json!({"zone": "CET"})),
    ]));
    let (status, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(status, 200);
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"],
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"zone\":\"CET\"}"}}
            ]
        })
    );

    // Ids keep counting across responses, so no two calls share one.
    llm.push(Reply::tool_call("again", json!({})));
    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(body["id"], "chatcmpl-2");
    assert_eq!(body["choices"][0]["message"]["tool_calls"][0]["id"], "call_3");
}

#[tokio::test]
async fn tool_calls_streaming() {
    let llm = ScriptedLlm::start().await;
    let args = json!({"city": "Paris", "units": "metric"});
    llm.push(Reply::ToolCalls(vec![
        ScriptedToolCall::new("get_weather", args.clone()),
        ScriptedToolCall::new("get_time", json!({})),
    ]));
    let chunks = stream_chunks(&llm, &openai_body(true)).await;

    assert_eq!(chunks[0], delta(json!({"role": "assistant", "content": null})));
    assert_eq!(
        chunks[1],
        delta(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        )
    );
    // Then only argument fragments for call 0, then call 1's opening.
    let second =
        chunks.iter().position(|c| c["choices"][0]["delta"]["tool_calls"][0]["index"] == 1).expect("second call");
    let fragments = &chunks[2..second];
    assert!(fragments.len() > 1, "arguments come in several fragments");
    for fragment in fragments {
        let call = &fragment["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call.as_object().unwrap().len(), 2, "fragment is index + function: {call}");
        assert_eq!(call["function"].as_object().unwrap().len(), 1);
    }
    let joined: Value = serde_json::from_str(&joined_arguments(&chunks, 0)).unwrap();
    assert_eq!(joined, args);
    assert_eq!(
        chunks[second],
        delta(
            json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}]})
        )
    );
    assert_eq!(joined_arguments(&chunks, 1), "{}");
    assert_eq!(chunks.last().unwrap(), &finish("tool_calls"));
}

#[tokio::test]
async fn text_then_tool_calls() {
    let llm = ScriptedLlm::start().await;
    let reply =
        Reply::TextThenToolCalls("Let me check.".into(), vec![ScriptedToolCall::new("search", json!({"q": "rust"}))]);
    llm.push_all([reply.clone(), reply]);

    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Let me check.");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "search");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    let chunks = stream_chunks(&llm, &openai_body(true)).await;
    assert_eq!(
        &chunks[..4],
        [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "Let "})),
            delta(json!({"content": "me "})),
            delta(json!({"content": "check."})),
        ]
    );
    assert_eq!(
        chunks[4],
        delta(
            json!({"tool_calls": [{"index": 0, "id": "call_2", "type": "function", "function": {"name": "search", "arguments": ""}}]})
        )
    );
    assert_eq!(joined_arguments(&chunks, 0), r#"{"q":"rust"}"#);
    assert_eq!(chunks.last().unwrap(), &finish("tool_calls"));
}

#[tokio::test]
async fn errors_use_the_openai_envelope() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::rate_limited(7), Reply::error(500), Reply::rate_limited(1)]);

    let response = post(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), "7");
    assert_eq!(header(&response, "content-type"), "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "Scripted error (HTTP 429).", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
    );

    let response = post(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("retry-after").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");

    // A streaming request gets the same JSON error, not an event stream.
    let response = post(&openai_url(&llm), &openai_body(true)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "content-type"), "application/json");
}

#[tokio::test]
async fn error_with_custom_body() {
    let llm = ScriptedLlm::start().await;
    let custom = json!({"error": {"message": "context too long", "type": "invalid_request_error", "code": "context_length_exceeded"}});
    llm.push(Reply::Error { status: 400, body: custom.clone(), retry_after: None });
    llm.push(Reply::Error { status: 502, body: json!("<html>Bad Gateway</html>"), retry_after: None });

    let (status, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!((status, body), (400, custom));

    let (status, content_type, text) = post_text(&openai_url(&llm), &openai_body(true)).await;
    assert_eq!(status, 502);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert_eq!(text, "<html>Bad Gateway</html>");
}

#[tokio::test]
async fn malformed_json_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::MalformedJson);
    let response = post(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    let text = response.text().await.expect("the whole (short) body arrives");
    assert!(text.starts_with(r#"{"id":"chatcmpl-1""#), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn malformed_json_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::MalformedJson);
    let (status, _, text) = post_text(&openai_url(&llm), &openai_body(true)).await;
    assert_eq!(status, 200);
    let events = parse_sse(&text);
    let bad: Vec<&SseEvent> =
        events.iter().filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err()).collect();
    assert_eq!(bad.len(), 1, "exactly one data line is not JSON: {text}");
    assert_eq!(events.iter().position(|e| std::ptr::eq(e, bad[0])), Some(1));
    assert_eq!(events.last().unwrap().data, "[DONE]", "the stream still ends normally");
}

#[tokio::test]
async fn cut_stream_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::cut_stream("Partial answer"));
    let response = post(&openai_url(&llm), &openai_body(true)).await;
    assert_eq!(response.status(), 200);
    let (text, clean) = read_until_end(response).await;
    assert!(!clean, "the connection must break, not end the body");
    let events = parse_sse(&text);
    let chunks: Vec<Value> = events.iter().map(|e| serde_json::from_str(&e.data).unwrap()).collect();
    let contents: Vec<&str> = chunks.iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["", "Partial ", "answer"]);
    assert!(chunks.iter().all(|c| c["choices"][0]["finish_reason"].is_null()));
}

#[tokio::test]
async fn cut_stream_non_streaming() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::cut_stream("Partial answer"));
    let response = post(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(response.status(), 200);
    let promised: usize = header(&response, "content-length").parse().unwrap();
    let (text, clean) = read_until_end(response).await;
    assert!(!clean);
    assert!(text.len() < promised);
    assert!(text.starts_with(r#"{"id":"chatcmpl-1""#), "{text}");
}

#[tokio::test]
async fn slow_reply_waits_before_the_first_token() {
    let llm = ScriptedLlm::start().await;
    let delay = Duration::from_millis(300);
    llm.push(Reply::text("late").delayed(delay));
    llm.push(Reply::text("late stream").delayed(delay));

    let started = Instant::now();
    let (status, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "late");
    assert!(started.elapsed() >= delay);

    let started = Instant::now();
    let mut response = post(&openai_url(&llm), &openai_body(true)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(started.elapsed() >= delay);
    let (rest, clean) = read_until_end(response).await;
    assert!(clean);
    let text = String::from_utf8(first.to_vec()).unwrap() + &rest;
    assert!(text.contains(r#""content":"stream""#) && text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn echo_answers_with_the_last_user_text() {
    let llm = ScriptedLlm::start().await;
    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hello there");

    let body = json!({
        "model": "gpt-test",
        "stream": true,
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "multi part"}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "not this"}
        ]
    });
    let chunks = stream_chunks(&llm, &body).await;
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "echo: multi part");

    // Without recording, echo still finds the text.
    llm.set_recording(false);
    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hello there");
}

#[tokio::test]
async fn base_url_without_v1_also_works() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("ok"));
    let url = format!("{}/chat/completions", llm.anthropic_base_url());
    let (status, body) = post_json(&url, &openai_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "ok");
}
