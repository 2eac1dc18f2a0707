//! The HTTP control interface under `/__testkit/`, for scripting a server that
//! runs in another process (the standalone binary, a benchmark harness).
//!
//! | request | effect | answer |
//! | --- | --- | --- |
//! | `POST /__testkit/push` | queue one reply (a JSON [`Reply`]) or several (a JSON array of them) | `200 {"queued": <replies now waiting>}` |
//! | `POST /__testkit/fallback` | set the reply used when the queue is empty | `204` |
//! | `GET /__testkit/requests` | every recorded request, oldest first, as JSON [`RecordedRequest`]s | `200 [...]` |
//! | `DELETE /__testkit/requests` | forget recorded requests and reset the count | `204` |
//! | `DELETE /__testkit/queue` | drop replies still waiting | `204` |
//! | `GET /__testkit/stats` | counters | `200 {"requests": n, "queued": n, "recording": bool}` |
//!
//! Errors are `{"error": "<what was wrong>"}` with status 400 or 404.
//!
//! [`Reply`]: super::Reply
//! [`RecordedRequest`]: super::RecordedRequest

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::body::{ReplyBody, to_json};
use super::script::Reply;
use super::server::{empty_response, json_response, read_body};
use super::state::Shared;

pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<ReplyBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    match (&parts.method, path) {
        (&Method::POST, "/__testkit/push") => {
            let replies = match read_json(body).await.and_then(replies) {
                Ok(replies) => replies,
                Err(message) => return control_error(StatusCode::BAD_REQUEST, &message),
            };
            let mut script = shared.script();
            for reply in replies {
                script.push(reply);
            }
            let queued = script.queued();
            drop(script);
            json_response(StatusCode::OK, to_json(&json!({ "queued": queued })))
        }
        (&Method::POST, "/__testkit/fallback") => match read_json(body).await.and_then(reply) {
            Ok(reply) => {
                shared.script().set_fallback(reply);
                empty_response(StatusCode::NO_CONTENT)
            }
            Err(message) => control_error(StatusCode::BAD_REQUEST, &message),
        },
        (&Method::GET, "/__testkit/requests") => {
            let body = to_json(&*shared.recorded());
            json_response(StatusCode::OK, body)
        }
        (&Method::DELETE, "/__testkit/requests") => {
            shared.clear_requests();
            empty_response(StatusCode::NO_CONTENT)
        }
        (&Method::DELETE, "/__testkit/queue") => {
            shared.script().clear_queue();
            empty_response(StatusCode::NO_CONTENT)
        }
        (&Method::GET, "/__testkit/stats") => {
            let stats = json!({
                "requests": shared.received(),
                "queued": shared.script().queued(),
                "recording": shared.recording(),
            });
            json_response(StatusCode::OK, to_json(&stats))
        }
        (method, path) => {
            let message = format!("no control endpoint {method} {path}");
            control_error(StatusCode::NOT_FOUND, &message)
        }
    }
}

async fn read_json(body: Incoming) -> Result<Value, String> {
    let bytes = read_body(body).await?;
    serde_json::from_slice(&bytes).map_err(|err| format!("body is not JSON: {err}"))
}

/// One reply, or a JSON array of them. Parsed from a `Value` rather than as an
/// untagged enum so the error names what is wrong with the reply.
fn replies(value: Value) -> Result<Vec<Reply>, String> {
    match value {
        Value::Array(items) => items.into_iter().map(reply).collect(),
        one => Ok(vec![reply(one)?]),
    }
}

fn reply(value: Value) -> Result<Reply, String> {
    if value.is_array() {
        return Err("expected one reply, not a list".to_owned());
    }
    serde_json::from_value(value).map_err(|err| format!("not a scripted reply: {err}"))
}

fn control_error(status: StatusCode, message: &str) -> Response<ReplyBody> {
    json_response(status, to_json(&json!({ "error": message })))
}
