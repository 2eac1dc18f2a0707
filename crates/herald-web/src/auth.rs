//! Bearer-key authentication.
//!
//! The presented token and the configured key are both hashed with SHA-256 and the
//! digests compared in constant time: hashing makes the comparison independent of the
//! key's length, and equal digests mean equal keys. Neither the key nor the
//! `Authorization` header is ever logged.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::errors::ApiError;
use crate::state::SharedState;

/// The configured key, kept only as its digest.
pub(crate) struct ApiKey {
    digest: [u8; 32],
}

impl ApiKey {
    pub fn new(key: &str) -> Self {
        ApiKey { digest: Sha256::digest(key.as_bytes()).into() }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&presented, &self.digest)
    }
}

/// Compares every byte whatever the first difference, so the time taken says nothing
/// about where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Middleware for every route but health and the OpenAPI document.
pub(crate) async fn require_key(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if token.is_some_and(|t| state.key.matches(t)) {
        return next.run(request).await;
    }
    tracing::warn!(
        method = %request.method(),
        path = %request.uri().path(),
        presented = token.is_some(),
        "API request rejected: missing or wrong bearer key"
    );
    ApiError::unauthorized().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly() {
        let key = ApiKey::new("0123456789abcdef-secret");
        assert!(key.matches("0123456789abcdef-secret"));
        assert!(!key.matches("0123456789abcdef-secreT"));
        assert!(!key.matches("0123456789abcdef-secret "));
        assert!(!key.matches(""));
        assert!(!key.matches("é"));
    }
}
