//! Accepting connections and routing requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::body::{Frames, ReplyBody};
use super::record::Wire;
use super::state::Shared;
use super::{anthropic, control, model, openai};

/// Accepts connections until `stop` is cancelled.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Usually out of file descriptors under load: back off
                    // rather than spin on a listener that cannot accept.
                    tracing::debug!(%err, "scripted LLM: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        // Stream events are small writes; Nagle's algorithm would hold them back
        // and make streaming look batched.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, Arc::clone(&shared), stop.clone()));
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route(&shared, req).await) }
    });
    // Keep-alive is hyper's default, so benchmark clients reuse connections.
    // hyper's header-read timeout also runs while a kept-alive connection sits
    // idle, closing it after 30 s; a test that pauses longer could then race a
    // pooled connection being closed under it, so idle connections stay open
    // until the client or `stop` closes them.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            // Scripted cuts and clients hanging up land here; neither is news.
            if let Err(err) = result {
                tracing::trace!(%err, "scripted LLM: connection ended with an error");
            }
        }
        // Dropping the connection closes the socket, so a stopped server does not
        // keep answering on connections a client pooled.
        () = stop.cancelled() => {}
    }
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<ReplyBody> {
    let path = req.uri().path();
    let wire = match path {
        "/v1/chat/completions" | "/chat/completions" => Some(Wire::OpenAi),
        "/v1/messages" => Some(Wire::Anthropic),
        _ => None,
    };
    match wire {
        Some(wire) if req.method() == Method::POST => model::handle(shared, wire, req).await,
        Some(wire) => {
            let message = format!("{} {path} is not supported; use POST.", req.method());
            wire_error(wire, StatusCode::METHOD_NOT_ALLOWED, &message)
        }
        None if path.starts_with("/__testkit/") => control::handle(shared, req).await,
        None => {
            let message = format!("Invalid URL ({} {path})", req.method());
            // Guess the wire from the path so a misconfigured base URL gets an
            // error its client can parse.
            let wire = if path.contains("messages") { Wire::Anthropic } else { Wire::OpenAi };
            wire_error(wire, StatusCode::NOT_FOUND, &message)
        }
    }
}

/// Reads a whole request body; `Err` carries a message for the client.
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, String> {
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|err| format!("could not read the request body: {err}"))
}

/// An error in the wire's envelope, for failures that are not about the body.
pub(crate) fn wire_error(wire: Wire, status: StatusCode, message: &str) -> Response<ReplyBody> {
    let body = match wire {
        Wire::OpenAi => openai::other_error(message),
        Wire::Anthropic => {
            let kind = match status {
                StatusCode::NOT_FOUND => "not_found_error",
                _ => "invalid_request_error",
            };
            anthropic::other_error(kind, message)
        }
    };
    json_response(status, body)
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<ReplyBody> {
    response(status, "application/json", ReplyBody::full(body))
}

pub(crate) fn empty_response(status: StatusCode) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::empty());
    *response.status_mut() = status;
    response
}

pub(crate) fn sse_response(
    frames: Frames,
    first_delay: Duration,
    frame_delay: Duration,
    cut: bool,
) -> Response<ReplyBody> {
    let body = ReplyBody::events(frames, first_delay, frame_delay, cut);
    let mut response = response(StatusCode::OK, "text/event-stream; charset=utf-8", body);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) fn response(status: StatusCode, content_type: &'static str, body: ReplyBody) -> Response<ReplyBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
