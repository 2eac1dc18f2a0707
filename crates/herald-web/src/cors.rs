//! Browser origins (Hermes §2.3, plus the methods and headers Hermes forgot).
//!
//! Requests without `Origin` (every non-browser client) always pass. A browser origin
//! passes only when configured (or `*` is); otherwise the request is refused with 403
//! before authentication, preflights included. Unlike Hermes, `PATCH` is allowed (the
//! session API uses it) and the `X-Hermes-*` headers may be sent and read by browsers.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::state::SharedState;

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Hermes-Session-Id, X-Hermes-Session-Key";
const EXPOSE_HEADERS: &str =
    "X-Hermes-Session-Id, X-Hermes-Session-Key, X-Hermes-Completed, X-Hermes-Partial, X-Hermes-Error, Retry-After";

/// The configured origins.
#[derive(Debug, Clone)]
pub(crate) struct CorsPolicy {
    any: bool,
    origins: Vec<String>,
}

impl CorsPolicy {
    pub fn new(configured: &[String]) -> Self {
        let origins: Vec<String> = configured.iter().map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        CorsPolicy { any: origins.iter().any(|o| o == "*"), origins }
    }

    pub fn enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// Whether a request with this `Origin` may proceed (no origin: yes).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => self.any || self.origins.iter().any(|c| c == o),
        }
    }

    /// The CORS headers for an allowed browser origin.
    pub fn headers_for(&self, origin: &str) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![
            (ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS)),
            (ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS)),
            (ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS)),
            (ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600")),
        ];
        if self.any {
            out.push((ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")));
        } else if let Ok(v) = HeaderValue::from_str(origin) {
            out.push((ACCESS_CONTROL_ALLOW_ORIGIN, v));
            out.push((VARY, HeaderValue::from_static("Origin")));
        }
        out
    }
}

fn refused() -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "Origin not allowed").code("origin_not_allowed").into_response()
}

/// The outer middleware: refuses unknown origins, answers preflights, decorates replies.
pub(crate) async fn cors(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    // An empty Origin is treated as none, as Hermes does; one that is not text is refused.
    let origin = match request.headers().get(ORIGIN).map(|v| v.to_str()) {
        None => None,
        Some(Ok("")) => None,
        Some(Ok(o)) => Some(o.to_string()),
        Some(Err(_)) => return refused(),
    };
    if !state.cors.allows(origin.as_deref()) {
        tracing::debug!(origin = origin.as_deref().unwrap_or(""), "API request refused: origin not allowed");
        return refused();
    }
    let headers = origin.as_deref().map(|o| state.cors.headers_for(o));
    if request.method() == Method::OPTIONS {
        // A preflight needs an allowed origin to be answered at all.
        return match headers {
            Some(h) => {
                let mut response = StatusCode::OK.into_response();
                response.headers_mut().extend(h);
                response
            }
            None => refused(),
        };
    }
    let mut response = next.run(request).await;
    if let Some(h) = headers {
        for (name, value) in h {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let none = CorsPolicy::new(&[]);
        assert!(none.allows(None));
        assert!(!none.allows(Some("https://a.example")));
        let some = CorsPolicy::new(&[" https://a.example ".into(), "".into()]);
        assert!(some.allows(Some("https://a.example")));
        assert!(!some.allows(Some("https://b.example")));
        let h = some.headers_for("https://a.example");
        assert!(h.iter().any(|(n, v)| n == VARY && v == "Origin"));
        let any = CorsPolicy::new(&["*".into()]);
        assert!(any.allows(Some("https://z.example")));
        let h = any.headers_for("https://z.example");
        assert!(h.iter().any(|(n, v)| n == ACCESS_CONTROL_ALLOW_ORIGIN && v == "*"));
        assert!(!h.iter().any(|(n, _)| n == VARY));
    }
}
