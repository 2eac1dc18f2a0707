//! One model request: read, validate, record, and answer from the script.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue, RETRY_AFTER};
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;

use super::answer::{Answer, StreamShape, input_estimate};
use super::body::{ReplyBody, to_json};
use super::record::{RecordedRequest, Wire, last_user_text};
use super::request::{self, Invalid, RequestView};
use super::script::{Action, Plan};
use super::server::{json_response, read_body, response, sse_response, wire_error};
use super::state::Shared;
use super::{anthropic, openai};

/// The text a `MalformedJson` reply's truncated body would have held.
const MALFORMED_TEXT: &str = "This response is cut short on purpose.";

pub(crate) async fn handle(shared: &Shared, wire: Wire, req: Request<Incoming>) -> Response<ReplyBody> {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(message) => return wire_error(wire, StatusCode::BAD_REQUEST, &message),
    };
    // A tree of the body is built only when recording; the unrecorded path
    // validates from borrowed slices.
    let recorded_body = shared.recording().then(|| body_value(&bytes));

    let (response, delay, stream) = match request::parse(wire, &bytes) {
        Err(invalid) => {
            let stream = recorded_body.as_ref().is_some_and(request::wants_stream);
            (invalid_response(wire, &invalid), Duration::ZERO, stream)
        }
        Ok(view) => {
            let reply = shared.next_reply();
            let plan = reply.plan(|| echo_text(recorded_body.as_ref(), view.messages));
            let (response, delay) = render(shared, wire, &view, plan, bytes.len());
            (response, delay, view.stream)
        }
    };

    // Recorded before any scripted delay, so a test can see a request that is
    // still waiting for its slow reply.
    shared.note_request(recorded_body.map(|body| RecordedRequest {
        wire,
        headers: header_pairs(&parts.headers),
        body,
        stream,
    }));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

/// The body as JSON, or as a JSON string of its text when it is not JSON.
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn echo_text(recorded_body: Option<&Value>, messages: &RawValue) -> String {
    let text = match recorded_body {
        Some(body) => body.get("messages").and_then(last_user_text),
        None => serde_json::from_str::<Value>(messages.get()).ok().and_then(|m| last_user_text(&m)),
    };
    text.unwrap_or_default()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

fn invalid_response(wire: Wire, invalid: &Invalid) -> Response<ReplyBody> {
    let body = match wire {
        Wire::OpenAi => openai::invalid_request(invalid),
        Wire::Anthropic => anthropic::invalid_request(invalid),
    };
    json_response(StatusCode::BAD_REQUEST, body)
}

/// The response for a plan, and how long to wait before sending it. Streams
/// wait inside their body instead: headers first, then the pause, as a real
/// server does while the model thinks.
fn render(
    shared: &Shared,
    wire: Wire,
    view: &RequestView<'_>,
    plan: Plan<'_>,
    body_len: usize,
) -> (Response<ReplyBody>, Duration) {
    let answer =
        |text, calls| Answer::new(wire, &shared.ids, &view.model, text, calls, plan.usage, input_estimate(body_len));
    let stream = |answer: &Answer<'_>, shape| {
        let frames = match wire {
            Wire::OpenAi => openai::stream(answer, shape, shared.chunks, view.include_usage),
            Wire::Anthropic => anthropic::stream(answer, shape, shared.chunks),
        };
        sse_response(frames, plan.delay, shared.chunk_delay, shape == StreamShape::Cut)
    };
    let complete = |answer: &Answer<'_>| match wire {
        Wire::OpenAi => openai::complete(answer),
        Wire::Anthropic => anthropic::complete(answer),
    };

    match plan.action {
        Action::Fail { status, body, retry_after } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = match body {
                Value::Null => json_response(status, error_for_status(wire, status.as_u16())),
                // A string body is sent as raw text, to script what a proxy in
                // front of the model might answer (an HTML 502 page, say).
                Value::String(text) => response(status, "text/plain; charset=utf-8", ReplyBody::full(text.clone())),
                other => json_response(status, to_json(other)),
            };
            if let Some(secs) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            (response, plan.delay)
        }
        Action::Answer { ref text, calls } => {
            let answer = answer(text, calls);
            if view.stream {
                (stream(&answer, StreamShape::Complete), Duration::ZERO)
            } else {
                (json_response(StatusCode::OK, complete(&answer)), plan.delay)
            }
        }
        Action::Malformed => {
            if view.stream {
                (stream(&answer("", &[]), StreamShape::Malformed), Duration::ZERO)
            } else {
                let mut body = complete(&answer(MALFORMED_TEXT, &[]));
                body.truncate(body.len() / 2);
                (json_response(StatusCode::OK, body), plan.delay)
            }
        }
        Action::Cut { text_before } => {
            let answer = answer(text_before, &[]);
            if view.stream {
                (stream(&answer, StreamShape::Cut), Duration::ZERO)
            } else {
                // Promise the whole body, send half, then drop the connection.
                let mut body = complete(&answer);
                let promised = body.len();
                body.truncate(promised / 2);
                let mut response = response(StatusCode::OK, "application/json", ReplyBody::cut_after(body));
                response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(promised));
                (response, plan.delay)
            }
        }
    }
}

fn error_for_status(wire: Wire, status: u16) -> Vec<u8> {
    match wire {
        Wire::OpenAi => openai::error_for_status(status),
        Wire::Anthropic => anthropic::error_for_status(status),
    }
}
