//! The processes under test: the scripted LLM, herald, Hermes and OpenClaw. Each is
//! started with a fresh home directory, in its own process group so that it and
//! every helper it spawns can be stopped together.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client;

/// The bearer key every gateway is started with (Hermes wants at least 16 characters).
pub const API_KEY: &str = "herald-bench-key-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Herald,
    Hermes,
    Openclaw,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Herald => "herald",
            Kind::Hermes => "Hermes",
            Kind::Openclaw => "OpenClaw",
        }
    }

    /// The readiness path whose first 200 ends the startup measurement.
    pub fn health_path(self) -> &'static str {
        match self {
            Kind::Herald | Kind::Hermes => "/health",
            Kind::Openclaw => "/readyz",
        }
    }

    /// The `model` of every request (Hermes and OpenClaw treat it as an agent name).
    pub fn model(self) -> &'static str {
        match self {
            Kind::Herald => "bench",
            Kind::Hermes => "hermes-agent",
            Kind::Openclaw => "openclaw",
        }
    }

    /// How long to wait for the first 200 before giving up.
    pub fn start_timeout(self) -> Duration {
        match self {
            Kind::Herald => Duration::from_secs(10),
            Kind::Hermes => Duration::from_secs(60),
            Kind::Openclaw => Duration::from_secs(120),
        }
    }
}

/// Where to find the programs.
#[derive(Clone, Debug)]
pub struct Paths {
    pub herald: PathBuf,
    pub llm: PathBuf,
    pub peers_dir: PathBuf,
}

/// Process groups started and not yet stopped, so an interrupted run can stop them all.
static LIVE_GROUPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Stops every process group still running (called when the harness itself is interrupted:
/// each child is in its own group, so the terminal's SIGINT does not reach it).
pub fn kill_all_groups() {
    let groups = std::mem::take(&mut *LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in groups {
        signal_group(pgid, "KILL");
    }
}

/// A child process in its own process group, stopped (group-wide) on drop.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub home: Option<PathBuf>,
}

impl Proc {
    pub fn new(child: Child, addr: SocketAddr, home: Option<PathBuf>) -> Self {
        LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
        Proc { child, addr, home }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM to the whole group, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.child.try_wait().ok().flatten().is_some() {
            signal_group(self.pid(), "KILL");
            return;
        }
        signal_group(self.pid(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Helpers may outlive the leader; the group kill reaches them too.
        signal_group(self.pid(), "KILL");
        let _ = self.child.wait();
        LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|&g| g != self.pid());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

pub fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the scripted LLM and reads its port from the first stdout line.
pub fn start_llm(paths: &Paths, reply: &str, chunks: usize) -> Result<Proc> {
    let mut child = Command::new(&paths.llm)
        .args(["--port", "0", "--no-record", "--reply", reply, "--chunks", &chunks.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .with_context(|| format!("start {}", paths.llm.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("unexpected first line from the scripted LLM: {line:?}"))?;
    Ok(Proc::new(child, addr, None))
}

/// The outcome of starting a gateway.
pub struct Started {
    pub proc: Proc,
    /// From just before spawn to the first 200 from the health path.
    pub startup: Duration,
}

/// Starts one gateway with a fresh home under `work` and waits for its first 200.
pub fn start_gateway(kind: Kind, paths: &Paths, llm: SocketAddr, work: &Path, run: &str) -> Result<Started> {
    let home = work.join(format!("{}-{run}", kind.name().to_lowercase()));
    if home.exists() {
        std::fs::remove_dir_all(&home)?;
    }
    std::fs::create_dir_all(&home)?;
    let port = free_port()?;
    let llm_url = format!("http://{llm}/v1");
    let log = std::fs::File::create(work.join(format!("{}-{run}.log", kind.name().to_lowercase())))?;
    let mut command = match kind {
        Kind::Herald => {
            let mut c = Command::new(&paths.herald);
            c.args(["gateway", "run"])
                .env("HERALD_HOME", &home)
                .env("API_SERVER_ENABLED", "true")
                .env("API_SERVER_KEY", API_KEY)
                .env("API_SERVER_HOST", "127.0.0.1")
                .env("API_SERVER_PORT", port.to_string())
                .env("API_SERVER_MAX_CONCURRENT_RUNS", "0")
                .env("HERALD_LLM_BASE_URL", &llm_url)
                .env("OPENAI_API_KEY", "x")
                .env("HERALD_MODEL", "bench");
            c
        }
        Kind::Hermes | Kind::Openclaw => {
            let script = if kind == Kind::Hermes { "run-hermes.sh" } else { "run-openclaw.sh" };
            let mut c = Command::new(peer_script(script)?);
            c.arg(&home).arg(port.to_string()).arg(&llm_url).arg(API_KEY);
            c.env("HERALD_BENCH_PEERS", &paths.peers_dir);
            c
        }
    };
    command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).process_group(0);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let spawned_at = Instant::now();
    let child = command.spawn().with_context(|| format!("start {}", kind.name()))?;
    let mut proc = Proc::new(child, addr, Some(home));
    let startup = wait_ready(&mut proc, kind.health_path(), spawned_at, kind.start_timeout())
        .with_context(|| format!("{} did not become ready", kind.name()))?;
    Ok(Started { proc, startup })
}

/// Polls `path` on fresh connections every half millisecond until it answers 200.
fn wait_ready(proc: &mut Proc, path: &str, since: Instant, timeout: Duration) -> Result<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    loop {
        if let Some(status) = proc.child.try_wait()? {
            bail!("exited with {status} before answering");
        }
        let answer = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), client::get_status(proc.addr, path)).await
        });
        if let Ok(Ok(200)) = answer {
            return Ok(since.elapsed());
        }
        if since.elapsed() > timeout {
            bail!("no 200 from {path} within {timeout:?} (last: {answer:?})");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The peer launch scripts live beside this crate's sources.
fn peer_script(name: &str) -> Result<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join(name);
    if !path.exists() {
        bail!("missing {}", path.display());
    }
    Ok(path)
}

/// Whether a peer is installed (its install script has run).
pub fn installed(kind: Kind, paths: &Paths) -> bool {
    match kind {
        Kind::Herald => paths.herald.exists(),
        Kind::Hermes => paths.peers_dir.join("hermes-0.19.0/venv/bin/hermes").exists(),
        Kind::Openclaw => paths.peers_dir.join("openclaw-2026.9.6/.installed-2026.9.6").exists(),
    }
}
