//! Server-sent events: frame formatting and streaming response bodies.
//!
//! A stream is driven by a [`FrameSource`] owned by the response body. When the client
//! goes away the body, and with it the source and any turn it holds, is dropped; that is
//! what cancels the turn.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

/// Silence after which a `: keepalive` comment is sent (Hermes: 30 s).
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(30);

/// `data: <json>`.
pub(crate) fn data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `event: <name>` + `data: <json>`.
pub(crate) fn event(name: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {value}\n\n"))
}

/// A comment line (`: keepalive`).
pub(crate) fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// Produces a stream's frames, a batch at a time; `None` ends the stream.
pub(crate) trait FrameSource: Send + 'static {
    fn next_frames(&mut self) -> impl Future<Output = Option<Vec<Bytes>>> + Send;
}

/// A `text/event-stream` response fed by `source`, with Hermes's streaming headers.
pub(crate) fn response<S: FrameSource>(source: S, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let stream = futures::stream::unfold((source, VecDeque::<Bytes>::new()), |(mut source, mut queued)| async move {
        loop {
            if let Some(frame) = queued.pop_front() {
                return Some((Ok::<Bytes, Infallible>(frame), (source, queued)));
            }
            queued.extend(source.next_frames().await?);
        }
    });
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    for (name, value) in headers {
        h.insert(name, value);
    }
    response
}
