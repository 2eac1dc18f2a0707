//! Reading requests: bodies under the size limit, JSON objects, path and query values.
//! Every failure is an [`ApiError`], so no framework rejection text ever reaches a client.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::content::scalar_text;
use crate::errors::ApiError;

/// The largest request body accepted (Hermes `MAX_REQUEST_BYTES`).
pub(crate) const MAX_BODY_BYTES: usize = 10_000_000;

pub(crate) fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.").code("body_too_large")
}

/// Reads a body, refusing it once it passes [`MAX_BODY_BYTES`]. A declared
/// `Content-Length` is checked before any of it is read (see `layers`); this catches
/// chunked bodies, which declare nothing.
pub(crate) async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("Could not read the request body").code("invalid_body"))?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The body as a JSON object. An empty body is `{}` only when `empty_ok`, for endpoints
/// whose every field is optional.
pub(crate) async fn read_object(body: Body, empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_body(body).await?;
    if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object").code("invalid_body")),
        Err(_) => Err(ApiError::bad_request("Invalid JSON in request body").code("invalid_json")),
    }
}

/// A string field: absent and `null` are `None`; any other non-string is a 400.
pub(crate) fn opt_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

/// An id-like field that Hermes would `str()`: strings and numbers are accepted.
pub(crate) fn opt_scalar_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(Some(scalar_text(v))),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

pub(crate) fn wrong_type(key: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("'{key}' must be {what}")).param(key).code("invalid_type")
}

/// One path parameter, percent-decoded. A malformed escape is a 400, not axum's text.
pub(crate) struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParam(v)),
            Err(_) => Err(ApiError::bad_request("Invalid path parameter").code("invalid_path")),
        }
    }
}

/// The query string as a map; a malformed one is a 400.
pub(crate) struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(QueryMap(v)),
            Err(_) => Err(ApiError::bad_request("Invalid query string").code("invalid_query")),
        }
    }
}

/// A whole-number query value clamped to `0..=max`; bad values mean the default
/// (Hermes `_parse_nonnegative_int`).
pub(crate) fn query_int(query: &HashMap<String, String>, key: &str, default: u32, max: u32) -> u32 {
    match query.get(key).map(|v| v.trim().parse::<i64>()) {
        Some(Ok(n)) if n >= 0 => n.min(max as i64) as u32,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_parsed_as_objects() {
        assert!(read_object(Body::from("{\"a\":1}"), false).await.unwrap().contains_key("a"));
        assert!(read_object(Body::from(""), true).await.unwrap().is_empty());
        assert_eq!(read_object(Body::from(""), false).await.unwrap_err().code, Some("invalid_json"));
        assert_eq!(read_object(Body::from("[1]"), false).await.unwrap_err().code, Some("invalid_body"));
        assert_eq!(read_object(Body::from("{nope"), false).await.unwrap_err().code, Some("invalid_json"));
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused_while_reading() {
        let chunks = (0..11).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1_000_000]));
        let body = Body::from_stream(futures::stream::iter(chunks));
        assert_eq!(read_body(body).await.unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn query_ints_fall_back_and_clamp() {
        let q: HashMap<String, String> = [("a", "7"), ("b", "-3"), ("c", "x"), ("d", "999")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(query_int(&q, "a", 50, 200), 7);
        assert_eq!(query_int(&q, "b", 50, 200), 50);
        assert_eq!(query_int(&q, "c", 50, 200), 50);
        assert_eq!(query_int(&q, "d", 50, 200), 200);
        assert_eq!(query_int(&q, "missing", 50, 200), 50);
    }
}
