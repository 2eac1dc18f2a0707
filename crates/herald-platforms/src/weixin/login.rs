//! QR login (§B.3 of the iLink reference): fetch a QR, poll its status, follow every
//! status the server sends, and hand back the bot's credentials.
//!
//! [`LoginFlow`] is the state machine both `herald login weixin` (a terminal) and the
//! API's login routes (a program polling) drive, one [`LoginFlow::step`] at a time, so
//! the two cannot disagree on what a status means.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

/// The fixed host every QR is fetched from (the confirmed login names the account's
/// own base URL).
pub const DEFAULT_BASE_URL: &str = "https://ilinkai.weixin.qq.com";
/// `bot_type` of every implementation found.
pub const BOT_TYPE: &str = "3";
/// `iLink-App-Id`.
pub const APP_ID: &str = "bot";
/// The plugin version herald speaks: the 2.4 login (POST with `local_token_list`,
/// verify codes, `binded_redirect`).
pub const CHANNEL_VERSION: &str = "2.4.9";
/// `iLink-App-ClientVersion`: `0x00MMNNPP` of [`CHANNEL_VERSION`] as decimal.
pub const CLIENT_VERSION: u32 = (2 << 16) | (4 << 8) | 9;
/// Long-poll timeout of one status request; a timeout is `wait`.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(35);
/// How many times an expired (or verify-blocked) QR is replaced before giving up.
pub const MAX_REFRESHES: u32 = 3;
/// The longest a whole login may take (TW and Hermes: 480 s).
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(480);
/// At most this many stored tokens go into `local_token_list`.
pub const MAX_LOCAL_TOKENS: usize = 10;

/// Why a login failed. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("could not reach the WeChat login server {base}: {detail}")]
    Network { base: String, detail: String },
    #[error("the WeChat login server answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("the WeChat login server refused the request (ret {ret}): {message}")]
    Refused { ret: i64, message: String },
    #[error("unexpected answer from the WeChat login server: {0}")]
    Decode(String),
    #[error("the QR code expired {0} times; start the login again")]
    TooManyRefreshes(u32),
    #[error("the login took longer than {0:?}; start it again")]
    TimedOut(Duration),
    #[error("a verification code must be 4 to 8 digits, got {0:?}")]
    BadCode(String),
}

/// A QR to show: render `url` (a WeChat link), not the `qrcode` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The id the status is polled with.
    pub qrcode: String,
    /// `qrcode_img_content`: what the QR image encodes.
    pub url: String,
}

/// What a confirmed login yields.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `ilink_bot_id`, e.g. `b0f5860fdecb@im.bot`.
    pub account_id: String,
    pub token: String,
    /// `baseurl`: where this account's bot calls go.
    pub base_url: String,
    /// `ilink_user_id`: the WeChat user who scanned, the bot's owner.
    pub user_id: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_id", &self.account_id)
            .field("token", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// One answer of `get_qrcode_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrStatus {
    Wait,
    /// `scaned` (sic); a pending verification code was accepted.
    Scanned,
    Confirmed(Credentials),
    Expired,
    /// `scaned_but_redirect`: poll `redirect_host` from now on.
    Redirect(String),
    NeedVerifyCode,
    VerifyCodeBlocked,
    /// `binded_redirect`: this bot is already bound here; the stored credentials stay.
    AlreadyBound {
        account_id: Option<String>,
    },
}

#[derive(Deserialize)]
struct QrAnswer {
    #[serde(default)]
    ret: i64,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    qrcode: Option<String>,
    #[serde(default)]
    qrcode_img_content: Option<String>,
}

#[derive(Deserialize)]
struct StatusAnswer {
    #[serde(default)]
    ret: i64,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    bot_token: Option<String>,
    #[serde(default)]
    ilink_bot_id: Option<String>,
    #[serde(default)]
    baseurl: Option<String>,
    #[serde(default)]
    ilink_user_id: Option<String>,
    #[serde(default)]
    redirect_host: Option<String>,
}

/// The two login calls.
#[derive(Debug, Clone)]
pub struct QrLoginClient {
    http: reqwest::Client,
    base_url: String,
    route_tag: Option<String>,
}

fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

impl QrLoginClient {
    /// `base_url` is `WEIXIN_BASE_URL` (the QR login follows it, so tests and private
    /// deployments can point it elsewhere).
    pub fn new(http: reqwest::Client, base_url: &str, route_tag: Option<String>) -> QrLoginClient {
        QrLoginClient { http, base_url: trim_base(base_url), route_tag }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn headers(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = req.header("iLink-App-Id", APP_ID).header("iLink-App-ClientVersion", CLIENT_VERSION.to_string());
        match &self.route_tag {
            Some(tag) => req.header("SKRouteTag", tag),
            None => req,
        }
    }

    fn network(&self, base: &str, e: reqwest::Error) -> LoginError {
        let e = e.without_url();
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        LoginError::Network { base: base.to_string(), detail }
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, base: &str, resp: reqwest::Response) -> Result<T, LoginError> {
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.network(base, e))?;
        if !status.is_success() {
            let detail: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(LoginError::Http { status: status.as_u16(), detail });
        }
        serde_json::from_slice(&body).map_err(|e| LoginError::Decode(e.to_string()))
    }

    /// `POST get_bot_qrcode?bot_type=3` with the tokens stored here, newest first, so
    /// the server can answer `binded_redirect` instead of minting a second bot.
    pub async fn fetch_qr(&self, local_tokens: &[String]) -> Result<QrCode, LoginError> {
        let tokens: Vec<&String> = local_tokens.iter().take(MAX_LOCAL_TOKENS).collect();
        let body = json!({
            "local_token_list": tokens,
            "base_info": {"channel_version": CHANNEL_VERSION, "bot_agent": format!("herald/{}", env!("CARGO_PKG_VERSION"))},
        });
        let url = format!("{}/ilink/bot/get_bot_qrcode?bot_type={BOT_TYPE}", self.base_url);
        let resp = self
            .headers(self.http.post(url))
            .timeout(Duration::from_secs(15))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.network(&self.base_url, e))?;
        let answer: QrAnswer = self.read(&self.base_url, resp).await?;
        if answer.ret != 0 {
            return Err(LoginError::Refused { ret: answer.ret, message: answer.errmsg.unwrap_or_default() });
        }
        match (answer.qrcode, answer.qrcode_img_content) {
            (Some(qrcode), Some(url)) if !qrcode.is_empty() && !url.is_empty() => Ok(QrCode { qrcode, url }),
            _ => Err(LoginError::Decode("the QR answer has no qrcode or qrcode_img_content".into())),
        }
    }

    /// One long-poll of `get_qrcode_status` against `base` (the login host, or the
    /// host a redirect named). A timeout or a gateway error (502-504, Cloudflare's 524)
    /// is `wait`, as every client does.
    pub async fn poll(&self, base: &str, qrcode: &str, verify_code: Option<&str>) -> Result<QrStatus, LoginError> {
        let mut query = vec![("qrcode", qrcode)];
        if let Some(code) = verify_code {
            query.push(("verify_code", code));
        }
        let url = format!("{base}/ilink/bot/get_qrcode_status");
        let sent = self.headers(self.http.get(url)).query(&query).timeout(POLL_TIMEOUT).send().await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if e.is_timeout() => return Ok(QrStatus::Wait),
            Err(e) => return Err(self.network(base, e)),
        };
        if matches!(resp.status().as_u16(), 502..=504 | 524) {
            return Ok(QrStatus::Wait);
        }
        let answer: StatusAnswer = match self.read(base, resp).await {
            Err(LoginError::Network { .. }) => return Ok(QrStatus::Wait),
            other => other?,
        };
        parse_status(answer)
    }
}

fn parse_status(a: StatusAnswer) -> Result<QrStatus, LoginError> {
    if a.ret != 0 {
        return Err(LoginError::Refused { ret: a.ret, message: a.errmsg.unwrap_or_default() });
    }
    let status = a.status.unwrap_or_default();
    Ok(match status.as_str() {
        "" | "wait" => QrStatus::Wait,
        "scaned" => QrStatus::Scanned,
        "expired" => QrStatus::Expired,
        "need_verifycode" => QrStatus::NeedVerifyCode,
        "verify_code_blocked" => QrStatus::VerifyCodeBlocked,
        "binded_redirect" => QrStatus::AlreadyBound { account_id: a.ilink_bot_id.filter(|s| !s.is_empty()) },
        "scaned_but_redirect" => match a.redirect_host.filter(|h| valid_host(h)) {
            Some(host) => QrStatus::Redirect(host),
            None => return Err(LoginError::Decode("scaned_but_redirect without a valid redirect_host".into())),
        },
        "confirmed" => {
            let field = |v: Option<String>, name: &str| {
                v.filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| LoginError::Decode(format!("a confirmed login without {name}")))
            };
            QrStatus::Confirmed(Credentials {
                account_id: field(a.ilink_bot_id, "ilink_bot_id")?,
                token: field(a.bot_token, "bot_token")?,
                base_url: a.baseurl.filter(|s| !s.trim().is_empty()).map(|s| trim_base(&s)).unwrap_or_default(),
                user_id: field(a.ilink_user_id, "ilink_user_id")?,
            })
        }
        other => return Err(LoginError::Decode(format!("unknown QR status {other:?}"))),
    })
}

/// A host name with an optional port: nothing that could smuggle a path, a user or a
/// scheme into the URL built from it.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// What a step of the flow produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEvent {
    /// Still waiting for the scan.
    Waiting,
    /// Scanned; waiting for the user to confirm in WeChat.
    Scanned,
    /// The old QR expired (or too many wrong codes); show this one instead.
    NewQr(QrCode),
    /// WeChat shows the user digits to type in; `wrong` when the last code was refused.
    NeedVerifyCode {
        wrong: bool,
    },
    Confirmed(Credentials),
    /// The bot is already bound to this machine; keep the stored account.
    AlreadyBound {
        account_id: Option<String>,
    },
}

/// One login, from QR to credentials.
#[derive(Debug)]
pub struct LoginFlow {
    client: QrLoginClient,
    local_tokens: Vec<String>,
    qr: QrCode,
    /// Where status polls go: the login host, or the one a redirect named.
    poll_base: String,
    refreshes: u32,
    /// A code to send with the next poll.
    code: Option<String>,
    /// A code was sent and the answer is not in yet.
    code_sent: bool,
}

impl LoginFlow {
    /// Fetches the first QR.
    pub async fn start(client: QrLoginClient, local_tokens: Vec<String>) -> Result<LoginFlow, LoginError> {
        let qr = client.fetch_qr(&local_tokens).await?;
        let poll_base = client.base_url().to_string();
        Ok(LoginFlow { client, local_tokens, qr, poll_base, refreshes: 0, code: None, code_sent: false })
    }

    /// The QR to show now.
    pub fn qr(&self) -> &QrCode {
        &self.qr
    }

    /// How many times the QR was replaced.
    pub fn refreshes(&self) -> u32 {
        self.refreshes
    }

    /// The digits the user read in WeChat, sent with the next poll.
    pub fn submit_code(&mut self, code: &str) -> Result<(), LoginError> {
        let code = code.trim();
        if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LoginError::BadCode(code.to_string()));
        }
        self.code = Some(code.to_string());
        Ok(())
    }

    async fn refresh(&mut self) -> Result<LoginEvent, LoginError> {
        if self.refreshes >= MAX_REFRESHES {
            return Err(LoginError::TooManyRefreshes(self.refreshes));
        }
        self.refreshes += 1;
        self.qr = self.client.fetch_qr(&self.local_tokens).await?;
        // A new QR starts at the login host again.
        self.poll_base = self.client.base_url().to_string();
        self.code = None;
        self.code_sent = false;
        Ok(LoginEvent::NewQr(self.qr.clone()))
    }

    /// One status poll (up to [`POLL_TIMEOUT`]) and what it means. Callers stop at
    /// `Confirmed`, `AlreadyBound` or an error, and enforce [`LOGIN_DEADLINE`].
    pub async fn step(&mut self) -> Result<LoginEvent, LoginError> {
        let code = self.code.take();
        let status = self.client.poll(&self.poll_base, &self.qr.qrcode, code.as_deref()).await?;
        let had_code = code.is_some() || self.code_sent;
        self.code_sent = code.is_some();
        match status {
            QrStatus::Wait => {
                if code.is_some() {
                    // Not answered yet; the code stays pending for the next poll.
                    self.code = code;
                }
                Ok(LoginEvent::Waiting)
            }
            QrStatus::Scanned => {
                self.code_sent = false;
                Ok(LoginEvent::Scanned)
            }
            QrStatus::Redirect(host) => {
                // The redirect keeps the login host's scheme (https in production).
                let scheme = if self.client.base_url().starts_with("http://") { "http" } else { "https" };
                self.poll_base = format!("{scheme}://{host}");
                Ok(LoginEvent::Scanned)
            }
            QrStatus::NeedVerifyCode => {
                self.code_sent = false;
                Ok(LoginEvent::NeedVerifyCode { wrong: had_code })
            }
            QrStatus::Expired | QrStatus::VerifyCodeBlocked => self.refresh().await,
            QrStatus::Confirmed(mut creds) => {
                if creds.base_url.is_empty() {
                    creds.base_url = self.client.base_url().to_string();
                }
                Ok(LoginEvent::Confirmed(creds))
            }
            QrStatus::AlreadyBound { account_id } => Ok(LoginEvent::AlreadyBound { account_id }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Result<QrStatus, LoginError> {
        parse_status(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn client_version_is_the_packed_plugin_version() {
        assert_eq!(CLIENT_VERSION, 132_105);
    }

    #[test]
    fn every_status_is_understood() {
        assert_eq!(answer(r#"{"status":"wait"}"#), Ok(QrStatus::Wait));
        assert_eq!(answer(r#"{}"#), Ok(QrStatus::Wait));
        assert_eq!(answer(r#"{"status":"scaned"}"#), Ok(QrStatus::Scanned));
        assert_eq!(answer(r#"{"status":"expired"}"#), Ok(QrStatus::Expired));
        assert_eq!(answer(r#"{"status":"need_verifycode"}"#), Ok(QrStatus::NeedVerifyCode));
        assert_eq!(answer(r#"{"status":"verify_code_blocked"}"#), Ok(QrStatus::VerifyCodeBlocked));
        assert_eq!(
            answer(r#"{"status":"binded_redirect","ilink_bot_id":"b@im.bot"}"#),
            Ok(QrStatus::AlreadyBound { account_id: Some("b@im.bot".into()) })
        );
        assert_eq!(
            answer(r#"{"status":"scaned_but_redirect","redirect_host":"sh.ilinkai.weixin.qq.com"}"#),
            Ok(QrStatus::Redirect("sh.ilinkai.weixin.qq.com".into()))
        );
        let confirmed = answer(
            r#"{"status":"confirmed","bot_token":"b@im.bot:s3cret","ilink_bot_id":"b@im.bot",
                "baseurl":"https://x.example/","ilink_user_id":"u@im.wechat","extra":1}"#,
        )
        .unwrap();
        let QrStatus::Confirmed(c) = confirmed else { panic!("{confirmed:?}") };
        assert_eq!(c.base_url, "https://x.example");
        assert!(!format!("{c:?}").contains("s3cret"), "the token never reaches Debug");
    }

    #[test]
    fn bad_answers_are_errors_that_name_the_problem() {
        assert!(matches!(answer(r#"{"status":"bogus"}"#), Err(LoginError::Decode(m)) if m.contains("bogus")));
        assert!(matches!(answer(r#"{"status":"confirmed","ilink_bot_id":"b"}"#), Err(LoginError::Decode(_))));
        assert!(matches!(
            answer(r#"{"status":"scaned_but_redirect","redirect_host":"evil.com/x?y"}"#),
            Err(LoginError::Decode(_))
        ));
        assert!(matches!(answer(r#"{"ret":-1,"errmsg":"no"}"#), Err(LoginError::Refused { ret: -1, .. })));
    }

    #[test]
    fn codes_are_digits() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = QrLoginClient::new(reqwest::Client::new(), "http://127.0.0.1:9", None);
        let qr = QrCode { qrcode: "q".into(), url: "u".into() };
        let mut flow = LoginFlow {
            client,
            local_tokens: vec![],
            qr,
            poll_base: String::new(),
            refreshes: 0,
            code: None,
            code_sent: false,
        };
        assert!(flow.submit_code(" 123456 ").is_ok());
        assert_eq!(flow.code.as_deref(), Some("123456"));
        assert!(matches!(flow.submit_code("12a4"), Err(LoginError::BadCode(_))));
        assert!(matches!(flow.submit_code("1"), Err(LoginError::BadCode(_))));
    }
}
