//! Middleware every response passes through: security headers, the declared body size,
//! the draining gate, and the envelopes for unknown routes and methods.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::body::{MAX_BODY_BYTES, too_large};
use crate::errors::ApiError;
use crate::state::SharedState;

const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("x-xss-protection", "0"),
    ("referrer-policy", "no-referrer"),
];

/// The outermost layer, so even a CORS refusal carries the headers.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.entry(HeaderName::from_static(name)).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Refuses a body by its declared length before a byte of it is read.
pub(crate) async fn declared_body_limit(request: Request, next: Next) -> Response {
    if let Some(value) = request.headers().get(CONTENT_LENGTH) {
        match value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(n) if n > MAX_BODY_BYTES as u64 => return too_large().into_response(),
            Some(_) => {}
            None => {
                return ApiError::bad_request("Invalid Content-Length header.")
                    .code("invalid_content_length")
                    .into_response();
            }
        }
    }
    next.run(request).await
}

/// Once shutdown has begun, new work is refused with a retryable 503.
pub(crate) async fn refuse_while_draining(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if state.turns.is_draining() {
        return ApiError::draining().into_response();
    }
    next.run(request).await
}

pub(crate) async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!("No route for {} {}", request.method(), request.uri().path()), "not_found")
        .into_response()
}

pub(crate) async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("Method {} is not allowed here", request.method()))
        .code("method_not_allowed")
        .into_response()
}
