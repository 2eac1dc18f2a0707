//! `herald gateway run`: the long-running daemon, in the foreground.
//!
//! Start: home, configuration, store, API key, agents, then the listener; every step
//! that can fail says what to change. Run: the API server until SIGTERM or SIGINT.
//! Stop: new requests get 503 while running turns get `gateway.drain_timeout_seconds`
//! to finish; the rest are cancelled and recorded. The exit code is 0 when the stop was
//! planned (a `herald gateway stop` or `--replace` marker names this process, or SIGINT
//! from a person) and 75 otherwise, so a supervisor restarts the gateway after a stop
//! nobody asked for. `gateway_state.json` follows each transition.
//!
//! One gateway per home: `gateway.lock` is held for the process lifetime and
//! `gateway.pid` names it (see `gateway_control`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use herald_core::config::{Config, Effective};
use herald_gateway::lifecycle::{PidFile, ProcessRecord, StopKind, mark_clean_shutdown, take_clean_shutdown};
use herald_gateway::{BackendSetup, GatewayBackend, GatewayState, GatewayStatus, PromptFiles};
use herald_platforms::weixin::account;
use herald_platforms::weixin::login::QrLoginClient;
use herald_store::{SqliteStore, Store};
use herald_web::{ApiConfig, ApiServer};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::api_key;
use crate::cli::{GatewayRunArgs, LogFormat};
use crate::cmd::gateway_control;
use crate::cmd::gateway_platforms::{self, Platforms};
use crate::home::Home;
use crate::settings::{self, FlagSetting};
use crate::{weixin, wiring};

/// After the drain, how long cancelled turns get to record what they had done.
const RECORD_GRACE: Duration = Duration::from_secs(10);

/// The name of the platform in `gateway_state.json`, as Hermes writes it.
const API_PLATFORM: &str = "api_server";

pub async fn run(home: &Home, flags: &[FlagSetting], args: GatewayRunArgs) -> anyhow::Result<ExitCode> {
    let effective = settings::load(home, flags)?;
    init_logging(&effective.config, args.log_format);
    for warning in &effective.warnings {
        tracing::warn!("{warning}");
    }
    home.ensure()?;
    // Before anything is written: a refused second gateway must not touch the files of
    // the running one.
    let _instance = gateway_control::claim_home(home, args.replace, gateway_control::stop_wait(&effective.config))?;
    let _pid_file = PidFile::write(&home.dir)
        .with_context(|| format!("cannot write {}", home.dir.join("gateway.pid").display()))?;
    let previous_clean = take_clean_shutdown(&home.dir);
    tracing::info!(previous_shutdown_clean = previous_clean, "starting");

    let status = Arc::new(GatewayStatus::new(Some(home.dir.join("gateway_state.json"))));
    record(&status, GatewayState::Starting, None);
    let mut signals = Signals::install()?;

    let started = match start(home, &effective, &status).await {
        Ok(started) => started,
        Err(error) => {
            record(&status, GatewayState::StartupFailed, Some(&format!("{error:#}")));
            return Err(error);
        }
    };
    if matches!(started, Started::Api { .. })
        && let Err(error) = status.set_platform(API_PLATFORM, "connected", None)
    {
        tracing::warn!(%error, "cannot write the gateway state file");
    }
    record(&status, GatewayState::Running, None);

    let drain = effective.config.gateway.drain_timeout;
    let stopped = match started {
        Started::Api { server, listener, backend, store, platforms } => {
            let mut stopped = serve(home, server, listener, backend, &status, signals).await?;
            if let Some(platforms) = platforms {
                stopped.drained &= platforms.stop(drain).await;
            }
            close_store(store).await;
            stopped
        }
        Started::Idle { store, platforms } => {
            let signal = signals.next().await;
            let kind = StopKind::after_signal(&home.dir, &ProcessRecord::current(), signal);
            tracing::info!(signal, stop = kind.describe(), "stopping");
            record(&status, GatewayState::Draining, None);
            let drained = match platforms {
                Some(platforms) => platforms.stop(drain).await,
                None => true,
            };
            close_store(store).await;
            Stopped { signal, kind, drained }
        }
    };
    // Only a stop whose drain finished is clean: the next start resumes nothing.
    if stopped.drained
        && let Err(error) = mark_clean_shutdown(&home.dir)
    {
        tracing::warn!(%error, "cannot write the clean shutdown marker");
    }
    record(&status, GatewayState::Stopped, Some(stopped.signal));
    let code = stopped.kind.exit_code();
    tracing::info!(reason = stopped.signal, stop = stopped.kind.describe(), exit_code = code, "gateway stopped");
    Ok(ExitCode::from(code))
}

/// How the gateway ended.
struct Stopped {
    signal: &'static str,
    kind: StopKind,
    /// Every running turn finished (or was recorded) within the drain.
    drained: bool,
}

enum Started {
    Api {
        server: ApiServer,
        listener: TcpListener,
        backend: GatewayBackend,
        store: Arc<SqliteStore>,
        platforms: Option<Platforms>,
    },
    /// The API server is off: the chat platforms (if any) run until a signal.
    Idle { store: Arc<SqliteStore>, platforms: Option<Platforms> },
}

async fn start(home: &Home, effective: &Effective, status: &Arc<GatewayStatus>) -> anyhow::Result<Started> {
    let config = &effective.config;
    let key = if config.api_server.enabled { Some(api_key_for(home, effective)?) } else { None };
    let sqlite = wiring::open_sqlite(home).await?;
    let store: Arc<dyn Store> = sqlite.clone();
    let platforms = gateway_platforms::start(home, config, store.clone(), status, key.is_some()).await?;
    let Some(key) = key else {
        if platforms.is_none() {
            tracing::warn!("the API server is disabled (API_SERVER_ENABLED=false) and no chat platform is enabled");
        }
        return Ok(Started::Idle { store: sqlite, platforms });
    };
    let memory = wiring::memory_files(home, config);
    let tools = wiring::tools(config, &memory, &store)?;
    // Without a provider the gateway still starts: health, models and sessions work, and
    // each turn answers with exactly what to set. Refusing to start would turn a missing
    // key into a crash loop under a supervisor, and `herald doctor` already checks it.
    let (agent, routes) = wiring::api_agents(config, &tools);
    if let Err(help) = &agent {
        tracing::warn!("turns will fail until a model provider is configured: {help}");
    }
    for route in &routes {
        if let Err(problem) = &route.agent {
            tracing::warn!(alias = %route.alias, "model route unusable: {problem}");
        }
    }
    let backend = GatewayBackend::new(BackendSetup {
        store,
        prompt: PromptFiles::new(home.dir.clone(), memory),
        model_name: config.api_server.model_name.clone(),
        agent,
        routes,
        status: status.clone(),
    });

    let listener = bind(config).await?;
    let server = ApiServer::new(
        ApiConfig {
            key,
            cors_origins: config.api_server.cors_origins.clone(),
            max_concurrent_runs: config.api_server.max_concurrent_runs,
            drain_timeout: config.gateway.drain_timeout,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        Arc::new(backend.clone()),
    )
    .with_logins(weixin_logins(home, config, platforms.clone())?);
    Ok(Started::Api { server, listener, backend, store: sqlite, platforms })
}

/// The configured key, checked, or a new one stored in `.env` on first start.
fn api_key_for(home: &Home, effective: &Effective) -> anyhow::Result<String> {
    if let Some(key) = &effective.config.api_server.key {
        let origin = effective.origin("api_server.key").map(ToString::to_string).unwrap_or_else(|| "?".into());
        api_key::check(key, &origin)?;
        return Ok(key.clone());
    }
    let key = api_key::generate();
    let env_file = home.env_file();
    api_key::store(&env_file, &key)?;
    // Said once, on stderr and never through the logger, so the key stays out of log
    // files. The key itself is shown only to a person at a terminal; a supervisor's log
    // gets where to find it.
    eprintln!(
        "herald: generated an API key and stored it in {} as {}; API clients send it as `Authorization: Bearer <key>`",
        env_file.display(),
        api_key::KEY_VAR
    );
    if std::io::stderr().is_terminal() {
        eprintln!("herald: {}={key}", api_key::KEY_VAR);
    }
    Ok(key)
}

async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let (host, port) = (config.api_server.host.as_str(), config.api_server.port);
    let listener = match TcpListener::bind((host, port)).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "cannot listen on {host}:{port}: the address is already in use (another herald gateway or another \
             program listens there). Stop it, or choose another port with API_SERVER_PORT=<port> \
             (api_server.port in config.yaml)"
        ),
        Err(e) => bail!(
            "cannot listen on {host}:{port}: {e}. Check API_SERVER_HOST and API_SERVER_PORT \
             (api_server.host and api_server.port in config.yaml)"
        ),
    };
    let addr = listener.local_addr().context("the listening socket has no address")?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "the API server is reachable from other machines: anyone with the key can run the agent and its tools"
        );
    }
    tracing::info!("listening on {}", url(addr));
    Ok(listener)
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Serves until a signal, then drains.
async fn serve(
    home: &Home,
    server: ApiServer,
    listener: TcpListener,
    backend: GatewayBackend,
    status: &Arc<GatewayStatus>,
    mut signals: Signals,
) -> anyhow::Result<Stopped> {
    let reason = Arc::new(Mutex::new(("the server stopped", StopKind::Unplanned)));
    let shutdown = {
        let (status, backend, reason, dir) = (status.clone(), backend.clone(), reason.clone(), home.dir.clone());
        async move {
            let signal = signals.next().await;
            // Read at once: the markers are valid for 60 s, the drain may take longer.
            let kind = StopKind::after_signal(&dir, &ProcessRecord::current(), signal);
            tracing::info!(
                signal,
                stop = kind.describe(),
                running_turns = backend.active_turns(),
                "stopping: draining running turns"
            );
            *reason.lock().unwrap_or_else(PoisonError::into_inner) = (signal, kind);
            record(&status, GatewayState::Draining, None);
            // A second signal stops waiting: the running turns are cancelled now, and
            // still record what they had done.
            tokio::spawn(async move {
                let again = signals.next().await;
                tracing::warn!(signal = again, "second signal: cancelling the running turns now");
                backend.cancel_turns();
            });
        }
    };
    let served = server.serve(listener, shutdown).await;
    // Turns still running now outlived the drain and were cancelled.
    let outlived = backend.active_turns();

    // The server dropped whatever outlived the drain; those turns record their partial
    // work in their own tasks. Wait for them, or it is lost with the process.
    let recorded = backend.shutdown(RECORD_GRACE).await;
    if !recorded {
        tracing::warn!(running_turns = backend.active_turns(), "some turns were not recorded in time");
    }
    let (signal, kind) = reason.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Err(error) = served {
        record(status, GatewayState::Stopped, Some(&format!("the API server failed: {error}")));
        return Err(error).context("the API server failed");
    }
    Ok(Stopped { signal, kind, drained: outlived == 0 && recorded })
}

/// Closes the database once nothing else holds it, which checkpoints the WAL into the
/// main file. Every write was already committed, so if something still holds it
/// (a task that outlived the grace period) nothing is lost by skipping this.
async fn close_store(store: Arc<SqliteStore>) {
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().await,
        Err(_) => tracing::debug!("the store is still in use; leaving its WAL for the next start"),
    }
}

/// Writes a transition to `gateway_state.json`; failing to is worth a warning, not a stop.
fn record(status: &GatewayStatus, state: GatewayState, exit_reason: Option<&str>) {
    if let Err(error) = status.set_state(state, exit_reason) {
        let path = status.file().map(|p| p.display().to_string()).unwrap_or_default();
        tracing::warn!(%error, path, "cannot write the gateway state file");
    }
}

/// SIGTERM and SIGINT, listened for from the start: a signal that arrived before the
/// listener existed would kill the process without a drain.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// The daemon logs at `logging.level` (info by default), unlike the terminal commands,
/// as human-readable lines or one JSON object per line. `RUST_LOG` overrides the level.
fn init_logging(config: &Config, format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        // Library internals are noise at info and debug; they stay reachable with RUST_LOG.
        EnvFilter::new(format!("{},hyper=warn,hyper_util=warn,h2=warn,rustls=warn,reqwest=warn", config.log_level))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// The API's WeChat logins: a confirmed one starts (or replaces) the WeChat adapter in
/// this gateway.
fn weixin_logins(
    home: &Home,
    config: &Config,
    platforms: Option<Platforms>,
) -> anyhow::Result<Arc<weixin::WeixinLogins>> {
    let http = reqwest::Client::builder().build().context("cannot build an HTTP client")?;
    let client = QrLoginClient::new(http, &config.weixin.base_url, config.weixin.route_tag.clone());
    let (home_dir, config) = (home.clone(), config.clone());
    let on_confirmed: weixin::OnConfirmed = Arc::new(move |account| {
        let (home, config, platforms) = (home_dir.clone(), config.clone(), platforms.clone());
        Box::pin(async move {
            let Some(platforms) = platforms else {
                return Err("no model provider is configured, so no chat platform can run; configure one and \
                            restart the gateway (the account is saved)"
                    .to_string());
            };
            let account = weixin::saved_account(&config, account);
            platforms.run_weixin(&home, &config, account).await.map_err(|e| format!("{e:#}"))?;
            Ok(true)
        })
    });
    Ok(Arc::new(weixin::WeixinLogins::new(client, account::accounts_dir(&home.dir), on_confirmed)))
}
