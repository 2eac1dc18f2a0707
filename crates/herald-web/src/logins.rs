//! `/api/platforms/{platform}/login…`: logging a platform account in from a program
//! (a cloud control plane binding a buyer's WeChat, a setup page). The gateway does the
//! work behind [`herald_core::login::Logins`]; a gateway built without it answers 404
//! `login_unavailable`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use herald_core::login::{LoginError, LoginView, Logins};
use serde_json::Value;

use crate::body::{QueryMap, opt_scalar_string, query_int, read_object};
use crate::errors::{ApiError, ApiResult, JsonReply};
use crate::state::SharedState;

/// The longest `?wait=` a status request may hold.
const MAX_WAIT_SECONDS: u32 = 30;

/// `{platform}` and `{login_id}`, percent-decoded.
pub(crate) struct LoginPath(String, String);

impl<S: Send + Sync> FromRequestParts<S> for LoginPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((platform, id))) => Ok(LoginPath(platform, id)),
            Err(_) => Err(ApiError::bad_request("Invalid path parameter").code("invalid_path")),
        }
    }
}

fn logins(state: &SharedState) -> ApiResult<&dyn Logins> {
    state
        .logins
        .as_deref()
        .ok_or_else(|| ApiError::not_found("This gateway cannot log platform accounts in", "login_unavailable"))
}

fn failed(err: LoginError) -> ApiError {
    let message = err.to_string();
    match err {
        LoginError::UnsupportedPlatform(_) => ApiError::not_found(message, "unsupported_platform"),
        LoginError::NotFound(_) => ApiError::not_found(message, "login_not_found"),
        LoginError::BadInput(_) => ApiError::bad_request(message).code("invalid_request"),
        LoginError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, message).code("login_not_waiting_for_code"),
        LoginError::TooMany(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
            .kind("rate_limit_error")
            .code("too_many_logins")
            .header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5")),
        LoginError::Upstream(_) => ApiError::new(StatusCode::BAD_GATEWAY, message).code("login_upstream_error"),
    }
}

fn view(status: StatusCode, v: LoginView) -> JsonReply {
    let body = serde_json::to_value(v).unwrap_or(Value::Null);
    JsonReply::ok(body).status(status)
}

/// `POST /api/platforms/{platform}/login`: a new QR, followed in the background.
pub(crate) async fn start(State(state): State<SharedState>, Path(platform): Path<String>) -> ApiResult {
    let v = logins(&state)?.start(&platform).await.map_err(failed)?;
    Ok(view(StatusCode::CREATED, v))
}

/// `GET /api/platforms/{platform}/login/{login_id}[?wait=SECONDS]`.
pub(crate) async fn status(
    State(state): State<SharedState>,
    LoginPath(platform, id): LoginPath,
    QueryMap(query): QueryMap,
) -> ApiResult {
    let wait = query_int(&query, "wait", 0, MAX_WAIT_SECONDS);
    let wait = (wait > 0).then(|| Duration::from_secs(u64::from(wait)));
    let v = logins(&state)?.status(&platform, &id, wait).await.map_err(failed)?;
    Ok(view(StatusCode::OK, v))
}

/// `POST /api/platforms/{platform}/login/{login_id}/verify-code` with `{"code": "123456"}`.
pub(crate) async fn verify_code(
    State(state): State<SharedState>,
    LoginPath(platform, id): LoginPath,
    body: Body,
) -> ApiResult {
    let body = read_object(body, false).await?;
    let code = opt_scalar_string(&body, "code")?
        .ok_or_else(|| ApiError::bad_request("'code' is required").param("code").code("missing_code"))?;
    let v = logins(&state)?.verify_code(&platform, &id, &code).await.map_err(failed)?;
    Ok(view(StatusCode::OK, v))
}

/// `DELETE /api/platforms/{platform}/login/{login_id}`.
pub(crate) async fn cancel(State(state): State<SharedState>, LoginPath(platform, id): LoginPath) -> ApiResult {
    let v = logins(&state)?.cancel(&platform, &id).await.map_err(failed)?;
    Ok(view(StatusCode::OK, v))
}
