//! The HTTP control interface under `/__testkit/`.

mod common;

use common::*;
use herald_testkit::llm::{RecordedRequest, ScriptedLlm, Wire};
use serde_json::{Value, json};

fn control(llm: &ScriptedLlm, path: &str) -> String {
    format!("{}/__testkit/{path}", llm.anthropic_base_url())
}

#[tokio::test]
async fn push_fallback_and_requests() {
    let llm = ScriptedLlm::start().await;
    let http = client();

    let response = http.post(control(&llm, "push")).json(&json!({"type": "text", "text": "one"})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"queued": 1}));

    let batch = json!([
        {"type": "tool_calls", "calls": [{"name": "search", "arguments": {"q": "x"}}]},
        {"type": "error", "status": 503, "retry_after": 2}
    ]);
    let response = http.post(control(&llm, "push")).json(&batch).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"queued": 3}));

    let response =
        http.post(control(&llm, "fallback")).json(&json!({"type": "text", "text": "fallback"})).send().await.unwrap();
    assert_eq!(response.status(), 204);

    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "one");
    let (_, body) = post_json(&anthropic_url(&llm), &anthropic_body(false)).await;
    assert_eq!(body["content"][0]["name"], "search");
    let response = post(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), "2");
    let (_, body) = post_json(&openai_url(&llm), &openai_body(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "fallback");

    let response = http.get(control(&llm, "requests")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let recorded: Vec<RecordedRequest> = response.json().await.unwrap();
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[1].wire, Wire::Anthropic);
    assert_eq!(recorded[1].body, anthropic_body(false));
    assert_eq!(recorded, llm.requests());

    let stats: Value = http.get(control(&llm, "stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats, json!({"requests": 4, "queued": 0, "recording": true}));

    let response = http.delete(control(&llm, "requests")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(llm.requests().is_empty());
    let listed: Value = http.get(control(&llm, "requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn recorded_json_shape() {
    let llm = ScriptedLlm::start().await;
    post_text(&openai_url(&llm), &openai_body(true)).await;
    let listed: Value = client().get(control(&llm, "requests")).send().await.unwrap().json().await.unwrap();
    let first = &listed[0];
    assert_eq!(first["wire"], "openai");
    assert_eq!(first["stream"], true);
    assert_eq!(first["body"], openai_body(true));
    assert!(first["headers"].as_array().unwrap().contains(&json!(["x-api-key", "test-key"])));
}

#[tokio::test]
async fn queue_can_be_dropped() {
    let llm = ScriptedLlm::start().await;
    let http = client();
    http.post(control(&llm, "push")).json(&json!([{"type": "echo"}, {"type": "malformed_json"}])).send().await.unwrap();
    assert_eq!(llm.queued(), 2);
    let response = http.delete(control(&llm, "queue")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(llm.queued(), 0);
}

#[tokio::test]
async fn bad_control_requests() {
    let llm = ScriptedLlm::start().await;
    let http = client();

    let response = http.post(control(&llm, "push")).body("{nope").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("body is not JSON"), "{body}");

    let response = http.post(control(&llm, "push")).json(&json!({"type": "texts", "text": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("texts"), "{body}");

    // One bad reply in a batch queues none of them.
    let response =
        http.post(control(&llm, "push")).json(&json!([{"type": "echo"}, {"type": "error"}])).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(llm.queued(), 0);

    let response = http.post(control(&llm, "fallback")).json(&json!([{"type": "echo"}])).send().await.unwrap();
    assert_eq!(response.status(), 400);

    let response = http.get(control(&llm, "nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "no control endpoint GET /__testkit/nothing"}));

    // Control traffic is not model traffic.
    assert_eq!(llm.request_count(), 0);
}
