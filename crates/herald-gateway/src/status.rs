//! The gateway's lifecycle state, kept in memory for `/health/detailed` and written to
//! `gateway_state.json` at every transition for supervisors and `herald` commands.
//!
//! The file is written to a temporary name and renamed over the old one, so a reader
//! never sees half a file. Its shape follows Hermes's `gateway_state.json`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

/// Where the gateway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState {
    Starting,
    Running,
    /// A stop was requested: no new work is accepted, running turns may finish.
    Draining,
    Stopped,
    /// Startup failed (bad key, port in use, ...); `exit_reason` says why.
    StartupFailed,
}

impl GatewayState {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayState::Starting => "starting",
            GatewayState::Running => "running",
            GatewayState::Draining => "draining",
            GatewayState::Stopped => "stopped",
            GatewayState::StartupFailed => "startup_failed",
        }
    }
}

/// The state of one platform connection (`connecting`, `connected`, `fatal`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlatformStatus {
    state: String,
    error_message: Option<String>,
    updated_at: String,
}

#[derive(Debug)]
struct Snapshot {
    state: GatewayState,
    exit_reason: Option<String>,
    platforms: BTreeMap<String, PlatformStatus>,
    updated_at: String,
}

/// The gateway's state, shared by the lifecycle code (which changes it) and the API
/// backend (which reports it).
#[derive(Debug)]
pub struct GatewayStatus {
    file: Option<PathBuf>,
    pid: u32,
    /// Seconds since the Unix epoch, as Hermes records it.
    start_time: f64,
    snapshot: Mutex<Snapshot>,
}

fn now_iso() -> String {
    // RFC 3339 in UTC with microseconds, like Python's `isoformat()` of an aware time.
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

impl GatewayStatus {
    /// A status written to `file` at every change (`None` keeps it in memory only).
    /// Nothing is written until the first change.
    pub fn new(file: Option<PathBuf>) -> Self {
        GatewayStatus {
            file,
            pid: std::process::id(),
            // The same value `gateway.pid` and the stop markers carry.
            start_time: crate::lifecycle::process_start_time(),
            snapshot: Mutex::new(Snapshot {
                state: GatewayState::Starting,
                exit_reason: None,
                platforms: BTreeMap::new(),
                updated_at: now_iso(),
            }),
        }
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn state(&self) -> GatewayState {
        self.lock().state
    }

    /// Moves to `state` (with the reason, when stopping) and writes the file.
    pub fn set_state(&self, state: GatewayState, exit_reason: Option<&str>) -> io::Result<()> {
        {
            let mut snapshot = self.lock();
            snapshot.state = state;
            if exit_reason.is_some() {
                snapshot.exit_reason = exit_reason.map(str::to_owned);
            }
            snapshot.updated_at = now_iso();
            // Written under the lock, so a later change is never overwritten by an
            // earlier one that reached the disk last.
            self.write(&self.render(&snapshot, None))
        }
    }

    /// Records a platform's connection state and writes the file.
    pub fn set_platform(&self, platform: &str, state: &str, error_message: Option<&str>) -> io::Result<()> {
        {
            let mut snapshot = self.lock();
            let now = now_iso();
            snapshot.platforms.insert(
                platform.to_owned(),
                PlatformStatus {
                    state: state.to_owned(),
                    error_message: error_message.map(str::to_owned),
                    updated_at: now.clone(),
                },
            );
            snapshot.updated_at = now;
            self.write(&self.render(&snapshot, None))
        }
    }

    /// The state as JSON (the content of `gateway_state.json`), with the live number of
    /// running turns when the caller knows it.
    pub fn to_json(&self, active_agents: Option<usize>) -> Value {
        self.render(&self.lock(), active_agents)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        // A panic while the lock was held leaves a complete snapshot behind.
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn render(&self, snapshot: &Snapshot, active_agents: Option<usize>) -> Value {
        let platforms: serde_json::Map<String, Value> = snapshot
            .platforms
            .iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    json!({
                        "state": p.state,
                        "error_code": Value::Null,
                        "error_message": p.error_message,
                        "updated_at": p.updated_at,
                    }),
                )
            })
            .collect();
        json!({
            "pid": self.pid,
            "kind": "herald-gateway",
            "start_time": self.start_time,
            "gateway_state": snapshot.state.as_str(),
            "exit_reason": snapshot.exit_reason,
            "active_agents": active_agents.unwrap_or(0),
            "platforms": platforms,
            "updated_at": snapshot.updated_at,
        })
    }

    fn write(&self, value: &Value) -> io::Result<()> {
        match &self.file {
            Some(path) => write_atomic(path, &serde_json::to_vec_pretty(value).map_err(io::Error::other)?),
            None => Ok(()),
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it, and renames it over
/// `path`, so readers see the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Unique per write, not only per process: two tasks writing at once (the supervisor
    // and the main task at startup) must not rename each other's half-written file away.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_written_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway_state.json");
        let status = GatewayStatus::new(Some(path.clone()));
        assert!(!path.exists(), "nothing is written before the first change");

        status.set_state(GatewayState::Starting, None).expect("starting");
        status.set_platform("api_server", "connected", None).expect("platform");
        status.set_state(GatewayState::Running, None).expect("running");
        let read = || -> Value { serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json") };
        let running = read();
        assert_eq!(running["gateway_state"], "running");
        assert_eq!(running["platforms"]["api_server"]["state"], "connected");
        assert_eq!(running["pid"], std::process::id());
        assert_eq!(running["kind"], "herald-gateway");
        assert_eq!(running["exit_reason"], Value::Null);
        assert!(running["updated_at"].as_str().expect("updated_at").ends_with("+00:00"));

        status.set_state(GatewayState::Stopped, Some("SIGTERM")).expect("stopped");
        let stopped = read();
        assert_eq!(stopped["gateway_state"], "stopped");
        assert_eq!(stopped["exit_reason"], "SIGTERM");
        assert_eq!(status.state(), GatewayState::Stopped);
        assert_eq!(status.to_json(Some(3))["active_agents"], 3);

        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .filter(|name| name != "gateway_state.json")
            .collect();
        assert!(leftovers.is_empty(), "no temporary files are left behind: {leftovers:?}");
    }

    #[test]
    fn concurrent_changes_leave_the_file_equal_to_the_last_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway_state.json");
        let status = std::sync::Arc::new(GatewayStatus::new(Some(path.clone())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let status = status.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        status.set_platform(&format!("p{t}"), &format!("s{i}"), None).expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let on_disk: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(on_disk["platforms"], status.to_json(None)["platforms"], "the file holds the last state");
        for t in 0..8 {
            assert_eq!(on_disk["platforms"][format!("p{t}")]["state"], "s9");
        }
    }

    #[test]
    fn an_in_memory_status_writes_nothing() {
        let status = GatewayStatus::new(None);
        status.set_state(GatewayState::Draining, None).expect("no file, no error");
        assert_eq!(status.to_json(None)["gateway_state"], "draining");
        assert_eq!(status.file(), None);
    }
}
