//! Routing: `/bot<token>/<method>`, `/file/bot<token>/<path>`, `/_control/...`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State as AxState};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control;
use super::methods;
use super::params::{ApiErr, Params};
use super::state::Shared;
use super::types::Call;

/// Telegram's upload limit for bots (50 MB), plus room for the multipart framing.
const BODY_LIMIT: usize = 52 * 1024 * 1024;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(route).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(shared)
}

pub fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn route(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/_control/") {
        return control::handle(&shared, rest, req).await;
    }
    if let Some(rest) = path.strip_prefix("/file/bot") {
        return download(&shared, rest, req.method());
    }
    if let Some(rest) = path.strip_prefix("/bot")
        && let Some((token, method)) = rest.split_once('/')
    {
        return bot_method(&shared, token, method, req).await;
    }
    json_response(404, &ApiErr::new(404, "Not Found").envelope())
}

async fn bot_method(shared: &Shared, token: &str, method: &str, req: Request) -> Response {
    if token != shared.token {
        // Not recorded: a wrong token is not the bot talking.
        return json_response(401, &ApiErr::new(401, "Unauthorized").envelope());
    }
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return json_response(404, &ApiErr::new(404, "Not Found").envelope());
    }
    let method_name = method.to_string();
    let lower = method.to_ascii_lowercase();
    let (params, outcome) = match Params::read(req).await {
        Err(e) => (Params::default(), Err(e)),
        Ok(params) => {
            let fault = shared.update(|s| s.take_fault(&lower));
            let outcome = match fault {
                Some(f) => Err(ApiErr { code: f.error_code, description: f.description, retry_after: f.retry_after }),
                None => methods::call(shared, &lower, &params).await,
            };
            (params, outcome)
        }
    };
    let (status, envelope) = match outcome {
        Ok(done) => {
            let mut v = json!({"ok": true, "result": done.result});
            if let Some(d) = done.description {
                v["description"] = json!(d);
            }
            (200, v)
        }
        Err(e) => (e.code, e.envelope()),
    };
    let chat_id = params.int("chat_id").ok().flatten();
    shared.update(|s| {
        let seq = s.calls.len() as u64 + 1;
        s.calls.push(Call {
            seq,
            method: method_name,
            params: params.to_record(),
            chat_id,
            status,
            response: envelope.clone(),
        });
    });
    json_response(status, &envelope)
}

fn download(shared: &Shared, rest: &str, method: &Method) -> Response {
    let Some((token, file_path)) = rest.split_once('/') else {
        return json_response(404, &ApiErr::new(404, "Not Found").envelope());
    };
    if token != shared.token {
        return json_response(401, &ApiErr::new(401, "Unauthorized").envelope());
    }
    if *method != Method::GET && *method != Method::HEAD {
        return json_response(404, &ApiErr::new(404, "Not Found").envelope());
    }
    let state = shared.lock();
    match state.files.values().find(|f| f.info.file_path == file_path) {
        Some(f) => {
            let mime = f.info.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into());
            (StatusCode::OK, [(header::CONTENT_TYPE, mime)], Body::from(f.bytes.clone())).into_response()
        }
        None => json_response(404, &ApiErr::new(404, "Not Found").envelope()),
    }
}
