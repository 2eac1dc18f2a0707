//! The chat platforms of `herald gateway run`: each enabled adapter under the
//! supervisor, feeding the runner, answered through its platform's delivery.
//!
//! Start order matters: the outbox first recovers (what a crash left in flight is never
//! resent), then the runner resumes what the inbound log holds unfinished, and only then
//! does the adapter connect, so a message delivered again by the platform meets a log
//! that already knows it. A platform added later (a WeChat login confirmed through the
//! API, or saved by `herald login weixin` while the gateway runs) goes through the same
//! steps.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use herald_core::Adapter;
use herald_core::config::{Config, StreamingConfig};
use herald_gateway::delivery::Delivery;
use herald_gateway::lifecycle::credential_lock_dir;
use herald_gateway::runner::{AccessGate, Runner, RunnerSetup, system_clock};
use herald_gateway::supervisor::{Supervisor, SupervisorConfig};
use herald_gateway::{Conversations, GatewayStatus};
use herald_platforms::telegram::{TelegramAdapter, TelegramSettings};
use herald_platforms::weixin::{WeixinAccount, account};
use herald_store::Store;
use tokio_util::sync::CancellationToken;

use crate::home::Home;
use crate::{weixin, wiring};

/// After the drain, how long stopped turns and the outbox get to finish their writes.
const SETTLE: Duration = Duration::from_secs(10);

/// The running platforms. Cheap to clone: the API's login routes hold one to add the
/// adapter of a newly logged-in account.
#[derive(Clone)]
pub struct Platforms {
    inner: Arc<Inner>,
}

struct Inner {
    runner: Runner,
    supervisor: Supervisor,
    store: Arc<dyn Store>,
    streaming: StreamingConfig,
    /// Each platform's delivery and the switch of its outbox worker.
    deliveries: Mutex<Vec<(String, Delivery, CancellationToken)>>,
    /// Stops the turns (they resume at the next start).
    turns: CancellationToken,
    /// Stops the outbox workers, last.
    outbox: CancellationToken,
    /// Stops the watch for new WeChat logins, first.
    watch: CancellationToken,
    /// The WeChat account running (its id and token), so a login seen twice (by the
    /// API and by the account watch) starts it once.
    weixin: tokio::sync::Mutex<Option<(String, String)>>,
}

/// How often the saved WeChat accounts are checked for a login made by another
/// process (`herald login weixin` in a terminal).
const ACCOUNT_WATCH: Duration = Duration::from_secs(2);

fn time_zone(config: &Config) -> jiff::tz::TimeZone {
    config
        .timezone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or_else(jiff::tz::TimeZone::system)
}

/// Starts every enabled chat platform. With `for_logins`, the runner is set up even
/// when none is enabled yet (so a login can add one). `None` when there is nothing to
/// run, or only logins were asked for and no model can answer.
pub async fn start(
    home: &Home,
    config: &Config,
    store: Arc<dyn Store>,
    status: &Arc<GatewayStatus>,
    for_logins: bool,
) -> anyhow::Result<Option<Platforms>> {
    let weixin_account = weixin::configured_account(home, config)?;
    let any = config.telegram.enabled() || weixin_account.is_some();
    if !any && !for_logins {
        return Ok(None);
    }
    let memory = wiring::memory_files(home, config);
    let tools = wiring::tools(config, &memory, &store)?;
    let (agent, _) = wiring::api_agents(config, &tools);
    let agent = match agent {
        Ok(agent) => agent,
        Err(help) if any => anyhow::bail!("a chat platform is enabled but no model can answer: {help}"),
        Err(_) => return Ok(None),
    };
    let conversations = Arc::new(Conversations::new(store.clone(), agent, home.dir.clone(), memory));
    let turns = CancellationToken::new();
    let runner = Runner::new(RunnerSetup {
        store: store.clone(),
        conversations,
        config: config.sessions.clone(),
        time_zone: time_zone(config),
        gate: Arc::new(AccessGate::new(store.clone(), config.access.clone())),
        access: config.access.clone(),
        shutdown: turns.clone(),
        clock: system_clock(),
    });
    let supervisor = Supervisor::new(
        status.clone(),
        SupervisorConfig {
            credential_lock_dir: Some(credential_lock_dir(config.gateway.lock_dir.as_deref())),
            ..SupervisorConfig::default()
        },
        CancellationToken::new(),
    );
    let platforms = Platforms {
        inner: Arc::new(Inner {
            runner,
            supervisor,
            store,
            streaming: config.sessions.streaming.clone(),
            deliveries: Mutex::new(Vec::new()),
            turns,
            outbox: CancellationToken::new(),
            watch: CancellationToken::new(),
            weixin: tokio::sync::Mutex::new(None),
        }),
    };

    if config.telegram.enabled() {
        let telegram = TelegramAdapter::new(TelegramSettings::new(
            config.telegram.clone(),
            home.dir.join("cache"),
            config.gateway.max_inbound_media_bytes,
        ))
        .context("cannot set up Telegram")?;
        platforms.add(Arc::new(telegram)).await?;
    }
    if let Some(account) = weixin_account {
        platforms.run_weixin(home, config, account).await?;
    }
    if config.weixin.token.is_none() {
        tokio::spawn(platforms.clone().watch_weixin_accounts(home.clone(), config.clone()));
    }
    platforms.inner.runner.spawn_expiry_watcher();
    Ok(Some(platforms))
}

impl Platforms {
    /// Starts WeChat with `account` unless that account already runs; returns whether
    /// it started. A different account replaces the running one.
    pub async fn run_weixin(&self, home: &Home, config: &Config, account: WeixinAccount) -> anyhow::Result<bool> {
        let mut running = self.inner.weixin.lock().await;
        let key = (account.account_id.clone(), account.token.clone());
        if running.as_ref() == Some(&key) {
            return Ok(false);
        }
        let adapter = weixin::adapter(home, config, &self.inner.store, account)?;
        self.add(adapter).await?;
        *running = Some(key);
        Ok(true)
    }

    /// Follows the saved accounts: when a login in another process (the terminal's
    /// `herald login weixin`) changes which account the configuration picks, that
    /// account starts here, without a restart. Only the directory's time is read until
    /// it changes.
    async fn watch_weixin_accounts(self, home: Home, config: Config) {
        let dir = account::accounts_dir(&home.dir);
        let stamp = || std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        let mut seen = stamp();
        let mut tick = tokio::time::interval(ACCOUNT_WATCH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.inner.watch.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = stamp();
            if now == seen {
                continue;
            }
            seen = now;
            let started = match weixin::configured_account(&home, &config) {
                Ok(Some(account)) => self.run_weixin(&home, &config, account).await,
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            match started {
                Ok(true) => tracing::info!("a new WeChat login was saved; WeChat started with it"),
                Ok(false) => {}
                Err(e) => tracing::warn!("a WeChat account changed but cannot start: {e:#}"),
            }
        }
    }

    /// Connects one more adapter: outbox recovery, resume, then the supervisor. A
    /// platform already running is stopped first (a new account replaces the old).
    pub async fn add(&self, adapter: Arc<dyn Adapter>) -> anyhow::Result<()> {
        let inner = &self.inner;
        let name = adapter.platform().as_str().to_string();
        if inner.supervisor.stop(&name).await {
            tracing::info!(platform = %name, "replacing the running adapter");
        }
        let old: Vec<_> = {
            let mut deliveries = inner.deliveries.lock().unwrap_or_else(PoisonError::into_inner);
            let (old, keep) = std::mem::take(&mut *deliveries).into_iter().partition(|(n, _, _)| *n == name);
            *deliveries = keep;
            old
        };
        for (_, _, worker) in old {
            worker.cancel();
        }
        let delivery = Delivery::new(adapter.clone(), inner.store.clone(), inner.streaming.clone());
        delivery.recover().await.context("cannot read the outbox")?;
        inner.runner.add_platform(&name, Arc::new(delivery.clone()));
        let worker = inner.outbox.child_token();
        tokio::spawn(delivery.run_outbox(worker.clone()));
        inner.deliveries.lock().unwrap_or_else(PoisonError::into_inner).push((name.clone(), delivery, worker));
        let resumed = inner.runner.resume(&name).await.context("cannot read the inbound log")?;
        if resumed != Default::default() {
            tracing::info!(
                platform = %name,
                resumed = resumed.resumed,
                requeued = resumed.requeued,
                expired = resumed.expired,
                suspended = resumed.suspended,
                "handling messages left unanswered by the last run"
            );
        }
        // A second gateway with the same credential is refused here, before it polls.
        inner.supervisor.start(adapter, Arc::new(inner.runner.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Stops taking messages, lets running turns finish within `drain`, stops the rest
    /// (they resume at the next start), and sends what the outbox holds. Returns
    /// whether every turn finished within the drain.
    pub async fn stop(self, drain: Duration) -> bool {
        let inner = &self.inner;
        inner.watch.cancel();
        inner.supervisor.shutdown().await;
        let deadline = Instant::now() + drain;
        while inner.runner.active_turns() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drained = inner.runner.active_turns() == 0;
        if !drained {
            tracing::warn!(running_turns = inner.runner.active_turns(), "stopping turns that outlived the drain");
        }
        inner.turns.cancel();
        if !inner.runner.wait_stopped(SETTLE).await {
            tracing::warn!("some turns did not stop in time");
        }
        // Answers queued by the last turns go out before the process ends.
        let until = Instant::now() + SETTLE;
        let deliveries: Vec<Delivery> =
            inner.deliveries.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(_, d, _)| d.clone()).collect();
        for delivery in &deliveries {
            while Instant::now() < until {
                match delivery.flush().await {
                    Ok(true) => continue,
                    _ => break,
                }
            }
        }
        inner.outbox.cancel();
        drained
    }
}
