//! Logging a platform account in from a program: what the API's login routes need
//! from the gateway.
//!
//! A login is started, then polled until it ends: the caller shows `qr_url` (or the
//! PNG) to the person, who scans it with the platform's app. A cloud control plane
//! uses exactly this to bind a buyer's WeChat to a new instance, so a view carries the
//! owner's platform user id once confirmed, and whether the adapter is now running.
//! `herald-web` depends only on this crate; the binary implements [`Logins`].

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginState {
    /// The QR is shown; nobody scanned it yet.
    Wait,
    /// Scanned; the person still has to confirm in the app.
    Scanned,
    /// The app shows digits that must be sent with `verify_code`.
    NeedVerifyCode,
    /// Done: the account is saved and its adapter started.
    Confirmed,
    /// The account was already bound to this gateway; the saved one stays in use.
    AlreadyBound,
    /// Ended without an account (expired too often, refused, timed out); see `error`.
    Failed,
    Cancelled,
}

impl LoginState {
    /// Whether the login is over.
    pub fn is_final(self) -> bool {
        matches!(self, LoginState::Confirmed | LoginState::AlreadyBound | LoginState::Failed | LoginState::Cancelled)
    }
}

/// A login as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginView {
    pub login_id: String,
    pub platform: String,
    pub status: LoginState,
    /// What the QR encodes; changes when an expired QR is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_url: Option<String>,
    /// The same QR as a PNG, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_png_base64: Option<String>,
    /// How many times the QR was replaced (at most 3).
    pub qr_refreshes: u32,
    /// The last code sent was wrong (with `need_verify_code`).
    #[serde(default)]
    pub verify_code_wrong: bool,
    /// The bot account id (`ilink_bot_id` on WeChat), once confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The platform user who scanned: the bot's owner (`ilink_user_id` on WeChat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Whether the platform's adapter runs in this gateway with the new account.
    #[serde(default)]
    pub adapter_started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    /// When the login gives up if not confirmed.
    pub expires_at: i64,
}

/// Why a login request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("logging in is not supported for platform {0:?}; supported: weixin")]
    UnsupportedPlatform(String),
    #[error("no login {0:?} (logins are forgotten 10 minutes after they end)")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    /// The login is not waiting for a code, or has ended.
    #[error("{0}")]
    Conflict(String),
    #[error("too many logins in progress ({0}); wait for one to end")]
    TooMany(usize),
    /// The platform's login server could not be reached or refused.
    #[error("{0}")]
    Upstream(String),
}

/// The gateway's side of the login routes.
#[async_trait]
pub trait Logins: Send + Sync + 'static {
    /// Fetches a QR and starts following its status in the background.
    async fn start(&self, platform: &str) -> Result<LoginView, LoginError>;

    /// The login now, or, with `wait`, as soon as its status changes (at most `wait`).
    async fn status(&self, platform: &str, login_id: &str, wait: Option<Duration>) -> Result<LoginView, LoginError>;

    /// Sends the digits the app shows.
    async fn verify_code(&self, platform: &str, login_id: &str, code: &str) -> Result<LoginView, LoginError>;

    async fn cancel(&self, platform: &str, login_id: &str) -> Result<LoginView, LoginError>;
}
