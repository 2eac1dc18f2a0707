//! The login routes' contract: shapes, status codes and error envelopes, against an
//! in-memory `Logins` (the real one, over the fake iLink server, is tested through the
//! binary in crates/herald/tests/weixin.rs).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::{KEY, app, get, post, request};
use herald_core::login::{LoginError, LoginState, LoginView, Logins};
use herald_web::ApiServer;
use serde_json::json;

#[derive(Default)]
struct MemLogins {
    logins: Mutex<HashMap<String, LoginView>>,
}

fn check(platform: &str) -> Result<(), LoginError> {
    if platform == "weixin" { Ok(()) } else { Err(LoginError::UnsupportedPlatform(platform.into())) }
}

#[async_trait]
impl Logins for MemLogins {
    async fn start(&self, platform: &str) -> Result<LoginView, LoginError> {
        check(platform)?;
        let mut logins = self.logins.lock().unwrap();
        if logins.len() >= 2 {
            return Err(LoginError::TooMany(2));
        }
        let id = format!("login-{}", logins.len() + 1);
        let v = LoginView {
            login_id: id.clone(),
            platform: platform.into(),
            status: LoginState::NeedVerifyCode,
            qr_url: Some("https://liteapp.weixin.qq.com/q/x".into()),
            qr_png_base64: Some("iVBORw0KGgo=".into()),
            qr_refreshes: 0,
            verify_code_wrong: false,
            account_id: None,
            user_id: None,
            adapter_started: false,
            error: None,
            started_at: 1,
            expires_at: 480_001,
        };
        logins.insert(id, v.clone());
        Ok(v)
    }

    async fn status(&self, platform: &str, id: &str, _wait: Option<Duration>) -> Result<LoginView, LoginError> {
        check(platform)?;
        self.logins.lock().unwrap().get(id).cloned().ok_or_else(|| LoginError::NotFound(id.into()))
    }

    async fn verify_code(&self, platform: &str, id: &str, code: &str) -> Result<LoginView, LoginError> {
        check(platform)?;
        let mut logins = self.logins.lock().unwrap();
        let v = logins.get_mut(id).ok_or_else(|| LoginError::NotFound(id.into()))?;
        if v.status != LoginState::NeedVerifyCode {
            return Err(LoginError::Conflict("the login is not waiting for a code".into()));
        }
        if code.len() != 6 {
            return Err(LoginError::BadInput(format!("a verification code must be 4 to 8 digits, got {code:?}")));
        }
        v.status = LoginState::Confirmed;
        v.account_id = Some("b@im.bot".into());
        v.user_id = Some("owner@im.wechat".into());
        v.adapter_started = true;
        Ok(v.clone())
    }

    async fn cancel(&self, platform: &str, id: &str) -> Result<LoginView, LoginError> {
        check(platform)?;
        let mut logins = self.logins.lock().unwrap();
        let v = logins.get_mut(id).ok_or_else(|| LoginError::NotFound(id.into()))?;
        v.status = LoginState::Cancelled;
        Ok(v.clone())
    }
}

fn with_logins() -> common::App {
    let base = app();
    let server = ApiServer::new(common::config(), base.backend.clone()).with_logins(Arc::new(MemLogins::default()));
    let router = server.router();
    common::App { backend: base.backend, server, router }
}

#[tokio::test]
async fn a_login_is_started_polled_verified_and_confirmed() {
    let app = with_logins();
    let started = app.send(post("/api/platforms/weixin/login", json!({}))).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let v = started.json();
    assert_eq!(v["status"], "need_verify_code");
    assert_eq!(v["platform"], "weixin");
    assert!(v["qr_url"].as_str().unwrap().starts_with("https://"));
    let id = v["login_id"].as_str().unwrap().to_string();

    let polled = app.send(get(&format!("/api/platforms/weixin/login/{id}?wait=1"))).await;
    assert_eq!(polled.status, StatusCode::OK);
    assert_eq!(polled.json()["login_id"], id);

    let wrong = app.send(post(&format!("/api/platforms/weixin/login/{id}/verify-code"), json!({"code": "12"}))).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.code(), "invalid_request");
    let missing = app.send(post(&format!("/api/platforms/weixin/login/{id}/verify-code"), json!({}))).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "missing_code");
    assert_eq!(missing.json()["error"]["param"], "code");

    let ok = app.send(post(&format!("/api/platforms/weixin/login/{id}/verify-code"), json!({"code": "123456"}))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let v = ok.json();
    assert_eq!(v["status"], "confirmed");
    assert_eq!(v["user_id"], "owner@im.wechat");
    assert_eq!(v["adapter_started"], true);

    let again =
        app.send(post(&format!("/api/platforms/weixin/login/{id}/verify-code"), json!({"code": "123456"}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "login_not_waiting_for_code");

    let cancelled = app.send(request(Method::DELETE, &format!("/api/platforms/weixin/login/{id}"), None)).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.json()["status"], "cancelled");
}

#[tokio::test]
async fn refusals_have_the_error_envelope() {
    let app = with_logins();
    let other = app.send(post("/api/platforms/irc/login", json!({}))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.code(), "unsupported_platform");
    let unknown = app.send(get("/api/platforms/weixin/login/nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "login_not_found");
    app.send(post("/api/platforms/weixin/login", json!({}))).await;
    app.send(post("/api/platforms/weixin/login", json!({}))).await;
    let third = app.send(post("/api/platforms/weixin/login", json!({}))).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.header("retry-after"), Some("5"));
    let bad_json = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/platforms/weixin/login/login-1/verify-code")
                .header("authorization", format!("Bearer {KEY}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    let no_key = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/platforms/weixin/login")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_logins_the_routes_say_so() {
    let app = app();
    let r = app.send(post("/api/platforms/weixin/login", json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "login_unavailable");
}
