//! The chat platforms of `herald gateway run`: each enabled adapter under the
//! supervisor, feeding the runner, answered through its platform's delivery.
//!
//! Start order matters: the outbox first recovers (what a crash left in flight is never
//! resent), then the runner resumes what the inbound log holds unfinished, and only then
//! does the adapter connect, so a message delivered again by the platform meets a log
//! that already knows it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use herald_core::config::Config;
use herald_gateway::delivery::Delivery;
use herald_gateway::lifecycle::credential_lock_dir;
use herald_gateway::runner::{AccessGate, Runner, RunnerSetup, system_clock};
use herald_gateway::supervisor::{Supervisor, SupervisorConfig};
use herald_gateway::{Conversations, GatewayStatus};
use herald_platforms::telegram::{TelegramAdapter, TelegramSettings};
use herald_store::Store;
use tokio_util::sync::CancellationToken;

use crate::home::Home;
use crate::wiring;

/// After the drain, how long stopped turns and the outbox get to finish their writes.
const SETTLE: Duration = Duration::from_secs(10);

/// The running platforms.
pub struct Platforms {
    runner: Runner,
    supervisor: Supervisor,
    deliveries: Vec<Delivery>,
    /// Stops the turns (they resume at the next start).
    turns: CancellationToken,
    /// Stops the outbox workers, last.
    outbox: CancellationToken,
}

fn time_zone(config: &Config) -> jiff::tz::TimeZone {
    config
        .timezone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or_else(jiff::tz::TimeZone::system)
}

/// Starts every enabled chat platform; `None` when none is enabled.
pub async fn start(
    home: &Home,
    config: &Config,
    store: Arc<dyn Store>,
    status: &Arc<GatewayStatus>,
) -> anyhow::Result<Option<Platforms>> {
    if !config.telegram.enabled() {
        return Ok(None);
    }
    let memory = wiring::memory_files(home, config);
    let tools = wiring::tools(config, &memory, &store)?;
    let (agent, _) = wiring::api_agents(config, &tools);
    let agent = agent.map_err(|help| anyhow::anyhow!("Telegram is enabled but no model can answer: {help}"))?;
    let conversations = Arc::new(Conversations::new(store.clone(), agent, home.dir.clone(), memory));
    let turns = CancellationToken::new();
    let outbox = CancellationToken::new();
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

    let telegram = TelegramAdapter::new(TelegramSettings::new(
        config.telegram.clone(),
        cache_dir(&home.dir),
        config.gateway.max_inbound_media_bytes,
    ))
    .context("cannot set up Telegram")?;
    let telegram = Arc::new(telegram);
    let delivery = Delivery::new(telegram.clone(), store.clone(), config.sessions.streaming.clone());
    delivery.recover().await.context("cannot read the outbox")?;
    runner.add_platform("telegram", Arc::new(delivery.clone()));
    tokio::spawn(delivery.run_outbox(outbox.clone()));
    let resumed = runner.resume("telegram").await.context("cannot read the inbound log")?;
    if resumed != Default::default() {
        tracing::info!(
            platform = "telegram",
            resumed = resumed.resumed,
            requeued = resumed.requeued,
            expired = resumed.expired,
            suspended = resumed.suspended,
            "handling messages left unanswered by the last run"
        );
    }
    // A second gateway with the same bot token is refused here, before it polls.
    supervisor.start(telegram, Arc::new(runner.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;
    runner.spawn_expiry_watcher();
    Ok(Some(Platforms { runner, supervisor, deliveries: vec![delivery], turns, outbox }))
}

fn cache_dir(home: &Path) -> std::path::PathBuf {
    home.join("cache")
}

impl Platforms {
    /// Stops taking messages, lets running turns finish within `drain`, stops the rest
    /// (they resume at the next start), and sends what the outbox holds. Returns
    /// whether every turn finished within the drain.
    pub async fn stop(self, drain: Duration) -> bool {
        self.supervisor.shutdown().await;
        let deadline = Instant::now() + drain;
        while self.runner.active_turns() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drained = self.runner.active_turns() == 0;
        if !drained {
            tracing::warn!(running_turns = self.runner.active_turns(), "stopping turns that outlived the drain");
        }
        self.turns.cancel();
        if !self.runner.wait_stopped(SETTLE).await {
            tracing::warn!("some turns did not stop in time");
        }
        // Answers queued by the last turns go out before the process ends.
        let until = Instant::now() + SETTLE;
        for delivery in &self.deliveries {
            while Instant::now() < until {
                match delivery.flush().await {
                    Ok(true) => continue,
                    _ => break,
                }
            }
        }
        self.outbox.cancel();
        drained
    }
}
