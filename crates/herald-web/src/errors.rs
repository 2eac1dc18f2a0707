//! The OpenAI error envelope every failure is reported in, and the JSON reply type.
//!
//! Every error leaves the server as `{"error":{"message","type","param","code"}}` (the
//! shape OpenAI SDKs parse), never as a framework's plain-text rejection.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_core::backend::BackendError;
use serde_json::{Map, Value, json};

/// `type` for client mistakes.
pub(crate) const INVALID_REQUEST: &str = "invalid_request_error";
/// `type` for failures on our side.
pub(crate) const SERVER_ERROR: &str = "server_error";

/// A request that failed, with everything its response needs. Boxed, because it travels
/// in the `Err` of every parsing helper and should cost a pointer there.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {}", .0.status, .0.message)]
pub(crate) struct ApiError(Box<ErrorDetail>);

#[derive(Debug, Clone)]
pub(crate) struct ErrorDetail {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Extra members of the `error` object (the `hermes` markers of a 502).
    pub extra: Map<String, Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Hermes's 401 body has no `param` member; it is reproduced byte for byte because
    /// some clients compare it whole.
    pub omit_param: bool,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status.is_server_error() { SERVER_ERROR } else { INVALID_REQUEST };
        ApiError(Box::new(ErrorDetail {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            extra: Map::new(),
            headers: Vec::new(),
            omit_param: false,
        }))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message).code(code)
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// A missing or wrong bearer key: Hermes's exact body.
    pub fn unauthorized() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "Invalid API key").code("invalid_api_key");
        e.omit_param = true;
        e
    }

    pub fn draining() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Gateway is draining existing work; retry shortly.")
            .kind(INVALID_REQUEST)
            .code("gateway_draining")
            .header(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    pub fn rate_limited(cap: usize) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, format!("Too many concurrent runs (max {cap})"))
            .kind("rate_limit_error")
            .code("rate_limit_exceeded")
            .header(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// A failure the client cannot fix; Hermes's wording.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("Internal server error: {detail}"))
    }

    /// Maps a backend failure to the status a client can act on.
    pub fn from_backend(err: BackendError) -> Self {
        match err {
            BackendError::NotFound(m) => Self::not_found(m, "not_found"),
            BackendError::Conflict(m) => Self::new(StatusCode::CONFLICT, m).code("conflict"),
            BackendError::Invalid(m) => Self::bad_request(m).code("invalid_request"),
            BackendError::Internal(m) => Self::internal(m),
        }
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), Value::String(self.message.clone()));
        error.insert("type".into(), Value::String(self.kind.to_string()));
        if !self.omit_param {
            error.insert("param".into(), self.param.clone().map(Value::String).unwrap_or(Value::Null));
        }
        error.insert("code".into(), self.code.map(|c| Value::String(c.to_string())).unwrap_or(Value::Null));
        for (k, v) in &self.extra {
            error.insert(k.clone(), v.clone());
        }
        json!({ "error": error })
    }

    /// The error as a reply (so it can be cached like a success).
    pub fn into_reply(self) -> JsonReply {
        let body = self.body();
        let detail = *self.0;
        JsonReply { status: detail.status, headers: detail.headers, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }
}

/// A finished JSON response. Cloneable, so an idempotent replay returns the same bytes.
#[derive(Debug, Clone)]
pub(crate) struct JsonReply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Value,
}

impl JsonReply {
    pub fn ok(body: Value) -> Self {
        JsonReply { status: StatusCode::OK, headers: Vec::new(), body }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn headers(mut self, headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> Self {
        self.headers.extend(headers);
        self
    }
}

impl IntoResponse for JsonReply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

/// Handlers return this; both arms render as JSON.
pub(crate) type ApiResult<T = JsonReply> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_body_is_hermes_exact() {
        assert_eq!(
            ApiError::unauthorized().body(),
            json!({"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}})
        );
    }

    #[test]
    fn generic_envelope_has_all_four_members() {
        let body = ApiError::bad_request("nope").param("messages").code("invalid_messages").body();
        assert_eq!(
            body,
            json!({"error": {"message": "nope", "type": "invalid_request_error", "param": "messages", "code": "invalid_messages"}})
        );
        assert_eq!(ApiError::internal("boom").body()["error"]["type"], "server_error");
    }
}
