//! [`Logins`] for WeChat: each login runs its [`LoginFlow`] in a task; the API reads
//! the latest [`LoginView`] from a watch channel, so a status request never waits on
//! the long poll unless it asks to (`?wait=`).
//!
//! A confirmed login is saved (0600) and handed to `on_confirmed`, which starts the
//! adapter in the running gateway: no restart between a scan and the first message.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use futures::future::BoxFuture;
use herald_core::login::{LoginError, LoginState, LoginView, Logins};
use herald_platforms::weixin::account::{self, SavedAccount};
use herald_platforms::weixin::login::{LOGIN_DEADLINE, LoginEvent, LoginFlow, QrCode, QrLoginClient};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Logins that may run at once (each holds a long poll upstream).
pub const MAX_ACTIVE: usize = 4;
/// How long an ended login can still be read.
const KEEP_ENDED: Duration = Duration::from_secs(600);
/// Pause between two status polls.
pub const POLL_GAP: Duration = Duration::from_secs(1);

/// Starts (or restarts) the WeChat adapter with a newly saved account; `Ok(true)` when
/// it now runs.
pub type OnConfirmed = Arc<dyn Fn(SavedAccount) -> BoxFuture<'static, Result<bool, String>> + Send + Sync>;

struct Entry {
    view: watch::Receiver<LoginView>,
    codes: mpsc::Sender<String>,
    cancel: CancellationToken,
}

/// The WeChat logins of one gateway.
pub struct WeixinLogins {
    client: QrLoginClient,
    accounts_dir: PathBuf,
    on_confirmed: OnConfirmed,
    entries: Mutex<HashMap<String, Entry>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn png_base64(url: &str) -> Option<String> {
    match super::qr::png(url) {
        Ok(png) => Some(base64::engine::general_purpose::STANDARD.encode(png)),
        Err(error) => {
            tracing::warn!(%error, "cannot draw the login QR");
            None
        }
    }
}

fn show_qr(view: &mut LoginView, qr: &QrCode) {
    view.qr_url = Some(qr.url.clone());
    view.qr_png_base64 = png_base64(&qr.url);
}

impl WeixinLogins {
    pub fn new(client: QrLoginClient, accounts_dir: PathBuf, on_confirmed: OnConfirmed) -> WeixinLogins {
        WeixinLogins { client, accounts_dir, on_confirmed, entries: Mutex::new(HashMap::new()) }
    }

    fn entry(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<(watch::Receiver<LoginView>, mpsc::Sender<String>), LoginError> {
        check_platform(platform)?;
        let entries = self.entries.lock().expect("login table");
        let e = entries.get(id).ok_or_else(|| LoginError::NotFound(id.to_string()))?;
        Ok((e.view.clone(), e.codes.clone()))
    }

    /// Drops logins that ended long ago.
    fn prune(&self) {
        let cutoff = now_ms() - KEEP_ENDED.as_millis() as i64;
        self.entries.lock().expect("login table").retain(|_, e| {
            let v = e.view.borrow();
            !(v.status.is_final() && v.expires_at < cutoff)
        });
    }
}

fn check_platform(platform: &str) -> Result<(), LoginError> {
    if platform == "weixin" { Ok(()) } else { Err(LoginError::UnsupportedPlatform(platform.to_string())) }
}

#[async_trait]
impl Logins for WeixinLogins {
    async fn start(&self, platform: &str) -> Result<LoginView, LoginError> {
        check_platform(platform)?;
        self.prune();
        let active =
            self.entries.lock().expect("login table").values().filter(|e| !e.view.borrow().status.is_final()).count();
        if active >= MAX_ACTIVE {
            return Err(LoginError::TooMany(MAX_ACTIVE));
        }
        let flow = LoginFlow::start(self.client.clone(), account::local_tokens(&self.accounts_dir))
            .await
            .map_err(|e| LoginError::Upstream(e.to_string()))?;
        let started_at = now_ms();
        let login_id = format!("wxlogin_{}", hex_id());
        let mut view = LoginView {
            login_id: login_id.clone(),
            platform: platform.to_string(),
            status: LoginState::Wait,
            qr_url: None,
            qr_png_base64: None,
            qr_refreshes: 0,
            verify_code_wrong: false,
            account_id: None,
            user_id: None,
            adapter_started: false,
            error: None,
            started_at,
            expires_at: started_at + LOGIN_DEADLINE.as_millis() as i64,
        };
        show_qr(&mut view, flow.qr());
        let (tx, rx) = watch::channel(view.clone());
        let (codes_tx, codes_rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        self.entries
            .lock()
            .expect("login table")
            .insert(login_id, Entry { view: rx, codes: codes_tx, cancel: cancel.clone() });
        let job = Job {
            flow,
            view: tx,
            codes: codes_rx,
            accounts_dir: self.accounts_dir.clone(),
            on_confirmed: self.on_confirmed.clone(),
        };
        tokio::spawn(job.run(cancel));
        Ok(view)
    }

    async fn status(&self, platform: &str, id: &str, wait: Option<Duration>) -> Result<LoginView, LoginError> {
        let (mut rx, _) = self.entry(platform, id)?;
        let now = rx.borrow_and_update().clone();
        if let Some(wait) = wait.filter(|_| !now.status.is_final())
            && let Ok(Ok(())) = tokio::time::timeout(wait, rx.changed()).await
        {
            return Ok(rx.borrow().clone());
        }
        Ok(now)
    }

    async fn verify_code(&self, platform: &str, id: &str, code: &str) -> Result<LoginView, LoginError> {
        let (rx, codes) = self.entry(platform, id)?;
        let now = rx.borrow().clone();
        if now.status != LoginState::NeedVerifyCode {
            return Err(LoginError::Conflict(format!(
                "login {id} is {:?}, not waiting for a verification code",
                now.status
            )));
        }
        let code = code.trim();
        if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LoginError::BadInput(format!("a verification code is 4 to 8 digits, got {code:?}")));
        }
        codes.send(code.to_string()).await.map_err(|_| LoginError::Conflict(format!("login {id} has ended")))?;
        Ok(now)
    }

    async fn cancel(&self, platform: &str, id: &str) -> Result<LoginView, LoginError> {
        check_platform(platform)?;
        let (rx, cancel) = {
            let entries = self.entries.lock().expect("login table");
            let e = entries.get(id).ok_or_else(|| LoginError::NotFound(id.to_string()))?;
            (e.view.clone(), e.cancel.clone())
        };
        cancel.cancel();
        let mut rx = rx;
        // The task marks the login cancelled (unless it had already ended).
        let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| v.status.is_final())).await;
        let v = rx.borrow().clone();
        Ok(v)
    }
}

fn hex_id() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One login's background task.
struct Job {
    flow: LoginFlow,
    view: watch::Sender<LoginView>,
    codes: mpsc::Receiver<String>,
    accounts_dir: PathBuf,
    on_confirmed: OnConfirmed,
}

impl Job {
    fn update(&self, f: impl FnOnce(&mut LoginView)) {
        self.view.send_modify(f);
    }

    fn fail(&self, state: LoginState, error: String) {
        self.update(|v| {
            v.status = state;
            v.error = Some(error);
        });
    }

    async fn run(mut self, cancel: CancellationToken) {
        let deadline = tokio::time::Instant::now() + LOGIN_DEADLINE;
        loop {
            let step = tokio::select! {
                _ = cancel.cancelled() => return self.fail(LoginState::Cancelled, "cancelled".into()),
                _ = tokio::time::sleep_until(deadline) => {
                    return self.fail(LoginState::Failed, format!("the login took longer than {LOGIN_DEADLINE:?}"));
                }
                Some(code) = self.codes.recv() => {
                    if let Err(e) = self.flow.submit_code(&code) {
                        tracing::debug!(error = %e, "refused a verification code");
                    }
                    continue;
                }
                step = self.flow.step() => step,
            };
            match step {
                Err(e) => return self.fail(LoginState::Failed, e.to_string()),
                Ok(LoginEvent::Waiting) => {}
                Ok(LoginEvent::Scanned) => self.update(|v| {
                    v.status = LoginState::Scanned;
                    v.verify_code_wrong = false;
                }),
                Ok(LoginEvent::NewQr(qr)) => {
                    let refreshes = self.flow.refreshes();
                    self.update(|v| {
                        show_qr(v, &qr);
                        v.qr_refreshes = refreshes;
                        v.status = LoginState::Wait;
                    });
                }
                Ok(LoginEvent::NeedVerifyCode { wrong }) => self.update(|v| {
                    v.status = LoginState::NeedVerifyCode;
                    v.verify_code_wrong = wrong;
                }),
                Ok(LoginEvent::AlreadyBound { account_id }) => {
                    return self.update(|v| {
                        v.status = LoginState::AlreadyBound;
                        v.account_id = account_id;
                    });
                }
                Ok(LoginEvent::Confirmed(creds)) => {
                    let saved = match account::save(&self.accounts_dir, &creds) {
                        Ok(saved) => saved,
                        Err(e) => return self.fail(LoginState::Failed, e.to_string()),
                    };
                    tracing::info!(account = %saved.account_id, "WeChat login confirmed");
                    let started = (self.on_confirmed)(saved.clone()).await;
                    return self.update(|v| {
                        v.status = LoginState::Confirmed;
                        v.account_id = Some(saved.account_id.clone());
                        v.user_id = Some(saved.user_id.clone());
                        match started {
                            Ok(running) => v.adapter_started = running,
                            Err(e) => {
                                v.error = Some(format!("the account is saved but the adapter did not start: {e}"))
                            }
                        }
                    });
                }
            }
            // As TW: a second between polls, so a server that answers `wait` at once
            // (a proxy, a load balancer) is not hammered.
            tokio::time::sleep(POLL_GAP).await;
        }
    }
}
