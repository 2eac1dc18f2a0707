//! What every route shares: the key, the envelope, CORS, security headers, body limits,
//! malformed input, the concurrency cap, unknown routes, the OpenAPI document.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const SECURITY: [(&str, &str); 7] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("x-xss-protection", "0"),
    ("referrer-policy", "no-referrer"),
];

fn assert_security_headers(r: &Reply) {
    for (name, value) in SECURITY {
        assert_eq!(r.header(name), Some(value), "{name} on a {}", r.status);
    }
}

fn chat_body() -> Value {
    json!({"model": "hermes-agent", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn health_needs_no_key_and_names_the_platform_clients_check() {
    let app = app();
    for path in ["/health", "/v1/health"] {
        let r = app.send(Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.json(),
            json!({"status": "ok", "platform": "hermes-agent", "server": "herald", "version": "9.9.9-test"})
        );
        assert_security_headers(&r);
    }
}

#[tokio::test]
async fn missing_or_wrong_key_is_refused_with_hermes_exact_body() {
    let app = app();
    let exact =
        json!({"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}});
    let cases = [
        None,
        Some("Bearer wrong-key-0123456789".to_string()),
        Some(format!("bearer {KEY}")),
        Some(format!("Basic {KEY}")),
        Some(format!("Bearer {KEY}x")),
    ];
    for auth in cases {
        for (method, path) in [
            (Method::GET, "/v1/models"),
            (Method::POST, "/v1/chat/completions"),
            (Method::GET, "/health/detailed"),
            (Method::GET, "/api/sessions"),
            (Method::GET, "/v1/runs/run_x"),
        ] {
            let mut b = Request::builder().method(method.clone()).uri(path).header("content-type", "application/json");
            if let Some(a) = &auth {
                b = b.header("authorization", a);
            }
            let r = app.send(b.body(Body::from(chat_body().to_string())).unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} with {auth:?}");
            assert_eq!(r.json(), exact);
            assert_security_headers(&r);
        }
    }
    assert!(app.backend.calls().is_empty(), "{:?}", app.backend.calls());
    // Surrounding whitespace around the token is tolerated, as in Hermes.
    let r = app
        .send(
            Request::get("/v1/models").header("authorization", format!("Bearer  {KEY} ")).body(Body::empty()).unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn models_list_the_advertised_model_and_route_aliases() {
    let app = app();
    let r = app.send(get("/v1/models")).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], "hermes-agent");
    assert_eq!(data[0]["object"], "model");
    assert_eq!(data[0]["owned_by"], "hermes");
    assert_eq!(data[0]["permission"], json!([]));
    assert_eq!(data[0]["root"], "hermes-agent");
    assert_eq!(data[0]["parent"], Value::Null);
    assert!(data[0]["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(data[1]["id"], "fast");
    assert_eq!(data[1]["root"], "gpt-4o-mini");
    assert_eq!(data[1]["parent"], "hermes-agent");
}

#[tokio::test]
async fn capabilities_and_skills_say_what_herald_does() {
    let app = app();
    let caps = app.send(get("/v1/capabilities")).await.json();
    assert_eq!(caps["object"], "hermes.api_server.capabilities");
    assert_eq!(caps["platform"], "hermes-agent");
    assert_eq!(caps["auth"], json!({"type": "bearer", "required": true}));
    assert_eq!(caps["runtime"]["mode"], "server_agent");
    assert_eq!(caps["runtime"]["split_runtime"], false);
    for f in ["chat_completions", "responses_api", "run_submission", "run_events_sse", "run_stop"] {
        assert_eq!(caps["features"][f], true, "{f}");
    }
    assert_eq!(caps["features"]["approval_events"], false);
    assert_eq!(caps["features"]["session_continuity_header"], "X-Hermes-Session-Id");
    assert_eq!(caps["features"]["cors"], false);
    assert_eq!(caps["endpoints"]["runs"], json!({"method": "POST", "path": "/v1/runs"}));
    let skills = app.send(get("/v1/skills")).await;
    assert_eq!(skills.json(), json!({"object": "list", "data": []}));
}

#[tokio::test]
async fn detailed_health_merges_gateway_state_with_api_load() {
    let app = app();
    let r = app.send(get("/health/detailed")).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    assert_eq!(b["status"], "ok");
    assert_eq!(b["platform"], "hermes-agent");
    assert_eq!(b["gateway_state"], "running");
    assert_eq!(b["platforms"]["telegram"]["state"], "connected");
    assert_eq!(b["active_agents"], 0);
    assert_eq!(b["gateway_busy"], false);
    assert_eq!(b["gateway_drainable"], true);
    assert_eq!(b["pid"], std::process::id());
    assert_eq!(b["updated_at"], 1.5);
}

#[tokio::test]
async fn cors_refuses_unknown_origins_before_anything_else() {
    let app = app_with(herald_web::ApiConfig { cors_origins: vec!["https://ok.example".into()], ..config() });
    // Not allowed: 403, even with a good key, even for preflights and health.
    for (method, path) in
        [(Method::POST, "/v1/chat/completions"), (Method::OPTIONS, "/v1/chat/completions"), (Method::GET, "/health")]
    {
        let r = app
            .send(
                Request::builder()
                    .method(method.clone())
                    .uri(path)
                    .header("origin", "https://evil.example")
                    .header("authorization", format!("Bearer {KEY}"))
                    .header("content-type", "application/json")
                    .body(Body::from(chat_body().to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.code(), "origin_not_allowed");
        assert!(r.header("access-control-allow-origin").is_none());
        assert_security_headers(&r);
    }
    assert!(app.backend.calls().is_empty());

    // Allowed: preflight answered, replies decorated, PATCH and the Hermes headers included.
    let pre = app
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/sessions/x")
                .header("origin", "https://ok.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(pre.status, StatusCode::OK);
    assert_eq!(pre.header("access-control-allow-origin"), Some("https://ok.example"));
    assert_eq!(pre.header("vary"), Some("Origin"));
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    assert!(pre.header("access-control-allow-methods").unwrap().contains("PATCH"));
    let allow = pre.header("access-control-allow-headers").unwrap();
    for h in ["Authorization", "Content-Type", "Idempotency-Key", "X-Hermes-Session-Id", "X-Hermes-Session-Key"] {
        assert!(allow.contains(h), "{h}");
    }
    assert!(pre.header("access-control-expose-headers").unwrap().contains("X-Hermes-Session-Id"));
    let r = app
        .send({
            let mut r = get("/v1/models");
            r.headers_mut().insert("origin", "https://ok.example".parse().unwrap());
            r
        })
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://ok.example"));
    // An OPTIONS without Origin is not a preflight Hermes answers.
    let r = app.send(Request::builder().method(Method::OPTIONS).uri("/v1/models").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Without an Origin, nothing changes for non-browser clients.
    let r = app.send(get("/v1/models")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn wildcard_cors_allows_any_origin_without_vary() {
    let app = app_with(herald_web::ApiConfig { cors_origins: vec!["*".into()], ..config() });
    let mut req = get("/v1/models");
    req.headers_mut().insert("origin", "https://anything.example".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("vary").is_none());
}

#[tokio::test]
async fn bodies_over_the_limit_and_bad_lengths_are_refused_unread() {
    let app = app();
    let big = Request::builder()
        .method(Method::POST)
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-length", "10000001")
        .body(Body::from("{}"))
        .unwrap();
    let r = app.send(big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Request body too large.", "type": "invalid_request_error", "param": null, "code": "body_too_large"}})
    );
    assert_security_headers(&r);

    let bad = Request::builder()
        .method(Method::POST)
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-length", "ten")
        .body(Body::from("{}"))
        .unwrap();
    let r = app.send(bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_content_length");

    // A chunked body declares nothing; it is cut off while being read.
    let chunks = (0..11).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1_000_000]));
    let streamed = Request::builder()
        .method(Method::POST)
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let r = app.send(streamed).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "body_too_large");
    assert!(app.backend.calls().is_empty());
}

#[tokio::test]
async fn malformed_json_and_wrong_types_get_the_envelope_and_no_backend_call() {
    let app = app();
    let raw = |path: &str, body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let cases: Vec<(&str, &str, &str)> = vec![
        ("/v1/chat/completions", "{not json", "invalid_json"),
        ("/v1/chat/completions", "", "invalid_json"),
        ("/v1/chat/completions", "[1,2]", "invalid_body"),
        ("/v1/chat/completions", r#"{"messages": "hi"}"#, "invalid_messages"),
        ("/v1/chat/completions", r#"{"messages": [{"role": "user", "content": "x"}], "model": 5}"#, "invalid_type"),
        ("/v1/responses", "{", "invalid_json"),
        ("/v1/responses", r#"{"input": 3}"#, "invalid_input"),
        ("/v1/responses", r#"{"input": "x", "instructions": ["a"]}"#, "invalid_type"),
        ("/v1/runs", "nope", "invalid_json"),
        ("/v1/runs", r#"{"input": "x", "model": {}}"#, "invalid_type"),
        ("/api/sessions", "{", "invalid_json"),
        ("/api/sessions", r#"{"system_prompt": 4}"#, "invalid_system_prompt"),
    ];
    for (path, body, code) in cases {
        let r = app.send(raw(path, body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}");
        let e = r.json();
        assert_eq!(e["error"]["code"], code, "{path} {body}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(e["error"].as_object().unwrap().contains_key("param"));
        assert!(e["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(app.backend.calls().is_empty(), "{:?}", app.backend.calls());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let app = app();
    let r = app.send(get("/v1/nope")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    assert_security_headers(&r);
    let r = app.send(request(Method::PUT, "/v1/models", None)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
    let r = app.send(request(Method::GET, "/v1/chat/completions", None)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_concurrency_cap_is_shared_and_answers_429_with_retry_after() {
    let app = app_with(herald_web::ApiConfig { max_concurrent_runs: 2, ..config() });
    let gate = Arc::new(Semaphore::new(0));
    app.backend.push(script(vec![Step::Gate(gate.clone()), delta("one")], End::Complete));
    app.backend.push(script(vec![Step::Gate(gate.clone()), delta("two")], End::Complete));
    // One turn through chat completions, one through runs.
    let router = app.router.clone();
    let first = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(post("/v1/chat/completions", chat_body())).await.unwrap().status()
    });
    app.backend.wait_started(1).await;
    let run = app.send(post("/v1/runs", json!({"input": "two"}))).await;
    assert_eq!(run.status, StatusCode::ACCEPTED);
    app.backend.wait_started(2).await;
    assert_eq!(app.server.in_flight(), 2);

    let turns_before = app.backend.turns().len();
    for (path, body) in [
        ("/v1/chat/completions", chat_body()),
        ("/v1/responses", json!({"input": "x"})),
        ("/v1/runs", json!({"input": "x"})),
    ] {
        let r = app.send(post(path, body)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            r.json(),
            json!({"error": {"message": "Too many concurrent runs (max 2)", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
        );
    }
    app.backend.add_session("s1");
    let r = app.send(post("/api/sessions/s1/chat", json!({"message": "x"}))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.backend.turns().len(), turns_before);

    gate.add_permits(2);
    // A finished turn frees its slot before its reply is sent.
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    let r = app.send(post("/v1/chat/completions", chat_body())).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn no_cap_when_zero() {
    let app = app_with(herald_web::ApiConfig { max_concurrent_runs: 0, ..config() });
    let gate = Arc::new(Semaphore::new(0));
    for _ in 0..12 {
        app.backend.push(script(vec![Step::Gate(gate.clone())], End::Complete));
    }
    for _ in 0..12 {
        assert_eq!(app.send(post("/v1/runs", json!({"input": "x"}))).await.status, StatusCode::ACCEPTED);
    }
    app.backend.wait_started(12).await;
    assert_eq!(app.server.in_flight(), 12);
    gate.add_permits(12);
}

#[tokio::test]
async fn the_openapi_document_describes_every_served_route() {
    let app = app();
    let r = app.send(Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], "9.9.9-test");
    let paths = doc["paths"].as_object().unwrap();
    let mut count = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            count += 1;
            let uri = path
                .replace("{response_id}", "resp_missing")
                .replace("{run_id}", "run_missing")
                .replace("{session_id}", "missing")
                .replace("{platform}", "weixin")
                .replace("{login_id}", "login_missing");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.send(request(m.clone(), &uri, None)).await;
            // Whatever the route answers, it is not the unknown-route or wrong-method fallback.
            let code = serde_json::from_str::<Value>(&r.text).ok().map(|v| v["error"]["code"].clone());
            assert!(
                !matches!(code.as_ref().and_then(Value::as_str), Some("not_found" | "method_not_allowed")),
                "{method} {path} is documented but not served: {} {}",
                r.status,
                r.text
            );
        }
    }
    assert_eq!(count, 29);
}
