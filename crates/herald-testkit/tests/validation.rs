//! Requests the real servers would reject, and requests to nowhere.

mod common;

use common::*;
use herald_testkit::llm::{Reply, ScriptedLlm};
use serde_json::{Value, json};

async fn raw_post(url: &str, body: &'static str) -> (u16, Value) {
    let response = client().post(url).header("content-type", "application/json").body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn openai_rejects_like_openai() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("kept for the valid request"));
    let url = openai_url(&llm);

    let (status, body) = post_json(&url, &json!({"messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": {"message": "you must provide a model parameter", "type": "invalid_request_error", "param": null, "code": null}})
    );

    let (status, body) = post_json(&url, &json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": {"message": "Missing required parameter: 'messages'.", "type": "invalid_request_error", "param": "messages", "code": "missing_required_parameter"}})
    );

    let (status, body) = post_json(&url, &json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "empty_array");

    let mut no_stream = openai_body(false);
    no_stream["stream_options"] = json!({"include_usage": true});
    let (status, body) = post_json(&url, &no_stream).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "stream_options");

    let (status, body) = raw_post(&url, "{\"model\": ").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("We could not parse the JSON body"));

    // Rejected requests do not use up the script, but are recorded.
    let (status, body) = post_json(&url, &openai_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "kept for the valid request");
    let requests = llm.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[4].body, json!("{\"model\": "));
    assert_eq!(llm.request_count(), 6);
}

#[tokio::test]
async fn anthropic_rejects_like_anthropic() {
    let llm = ScriptedLlm::start().await;
    let url = anthropic_url(&llm);
    let envelope =
        |message: &str| json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});

    let mut body = anthropic_body(false);
    body.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(post_json(&url, &body).await, (400, envelope("max_tokens: Field required")));

    let mut body = anthropic_body(true);
    body.as_object_mut().unwrap().remove("messages");
    assert_eq!(post_json(&url, &body).await, (400, envelope("messages: Field required")));
    assert!(llm.last_request().unwrap().stream, "a rejected stream request is recorded as one");

    let mut body = anthropic_body(false);
    body["max_tokens"] = json!(0);
    assert_eq!(post_json(&url, &body).await, (400, envelope("max_tokens: Input should be greater than or equal to 1")));

    let (status, body) = raw_post(&url, "not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, body) = raw_post(&url, "[]").await;
    assert_eq!((status, body), (400, envelope("The request body must be a JSON object.")));
}

#[tokio::test]
async fn wrong_method_and_unknown_path() {
    let llm = ScriptedLlm::start().await;
    let http = client();

    let response = http.get(openai_url(&llm)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "GET /v1/chat/completions is not supported; use POST.");

    let response = http.get(anthropic_url(&llm)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");

    let response = http
        .post(format!("{}/v1/completions", llm.anthropic_base_url()))
        .json(&openai_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid URL (POST /v1/completions)");

    let response = http
        .post(format!("{}/v1/v1/messages", llm.anthropic_base_url()))
        .json(&anthropic_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");

    assert_eq!(llm.request_count(), 0);
}
