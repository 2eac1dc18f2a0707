//! `herald gateway status | stop | restart`, and the one-gateway-per-home claim that
//! `gateway run` makes at startup (with `--replace`, a takeover).
//!
//! Whether a gateway runs is decided by `gateway.lock`, not by `gateway.pid`: the kernel
//! drops the lock when the process ends however it ends, while a pid file outlives a
//! `kill -9` and a pid can be reused.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use herald_core::config::{Config, Effective};
use herald_gateway::lifecycle::{
    InstanceLock, InstanceLockError, LockProbe, PidFile, PlannedStopMarker, ProcessRecord, StopOutcome, TakeoverMarker,
    stop_process,
};
use serde_json::Value;

use crate::cli::GatewayStopArgs;
use crate::home::Home;

/// The systemd unit `herald gateway install` writes.
pub const UNIT_NAME: &str = "herald-gateway.service";

/// `status` exits with this when no gateway runs (the LSB "program is not running").
const NOT_RUNNING: u8 = 3;

/// How long a stop (or a takeover) waits for the gateway to exit: its drain, the time
/// cancelled turns get to record their work, and a margin.
pub fn stop_wait(config: &Config) -> Duration {
    config.gateway.drain_timeout + Duration::from_secs(15)
}

/// Takes `gateway.lock` of `home`. When another gateway holds it, refuses with a message
/// naming it, or with `replace` takes over: a takeover marker, SIGTERM, a bounded wait
/// for the lock, then SIGKILL.
pub fn claim_home(home: &Home, replace: bool, wait: Duration) -> anyhow::Result<InstanceLock> {
    let holder = match InstanceLock::acquire(&home.dir) {
        Ok(lock) => return Ok(lock),
        Err(InstanceLockError::Held { holder, .. }) if replace => holder,
        Err(error) => return Err(error.into()),
    };
    let Some(target) = holder.or_else(|| PidFile::read(&home.dir)) else {
        bail!(
            "another process holds {} but did not say which; stop it, then start again",
            home.dir.join("gateway.lock").display()
        );
    };
    eprintln!("herald: taking over from the gateway with pid {} in {}", target.pid, home.dir.display());
    TakeoverMarker::write(&home.dir, &target).context("cannot write the takeover marker")?;
    let outcome = stop_process(target.pid, wait, true, || lock_is_free(&home.dir))
        .with_context(|| format!("cannot signal the running gateway (pid {})", target.pid))?;
    if outcome == StopOutcome::Killed {
        tracing::warn!(pid = target.pid, "the old gateway was killed after {wait:?}; its unfinished turns resume");
    }
    InstanceLock::acquire(&home.dir).context("the old gateway did not give up this home")
}

fn lock_is_free(dir: &Path) -> bool {
    matches!(InstanceLock::probe(dir), Ok(LockProbe::Free))
}

/// The running gateway of `home`, if any.
fn running(home: &Home) -> anyhow::Result<Option<ProcessRecord>> {
    let probe = InstanceLock::probe(&home.dir)
        .with_context(|| format!("cannot read {}", home.dir.join("gateway.lock").display()))?;
    Ok(match probe {
        LockProbe::Free => None,
        LockProbe::Held(record) => {
            // The lock's own record is written just after the lock is taken; the pid file
            // is the fallback for that instant.
            Some(record.or_else(|| PidFile::read(&home.dir)).unwrap_or(ProcessRecord {
                pid: 0,
                kind: String::new(),
                argv: Vec::new(),
                start_time: None,
            }))
        }
    })
}

pub fn status(home: &Home) -> anyhow::Result<ExitCode> {
    let state = read_state(home);
    match running(home)? {
        Some(record) => {
            println!("herald gateway: running (pid {}) in {}", pid_text(record.pid), home.dir.display());
            if let Some(state) = &state {
                println!("state: {}", state["gateway_state"].as_str().unwrap_or("unknown"));
            }
        }
        None => {
            println!("herald gateway: stopped in {}", home.dir.display());
            if let Some(state) = &state {
                let last = state["gateway_state"].as_str().unwrap_or("unknown");
                let reason = state["exit_reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default();
                let at = state["updated_at"].as_str().unwrap_or("?");
                println!("last state: {last}{reason} at {at}");
            }
        }
    }
    let running_now = running(home)?.is_some();
    if let Some(platforms) = state.as_ref().and_then(|s| s["platforms"].as_object())
        && !platforms.is_empty()
        && running_now
    {
        println!("platforms:");
        for (name, p) in platforms {
            let error = p["error_message"].as_str().map(|e| format!("  ({e})")).unwrap_or_default();
            println!("  {name:<12} {}{error}", p["state"].as_str().unwrap_or("unknown"));
        }
    }
    Ok(if running_now { ExitCode::SUCCESS } else { ExitCode::from(NOT_RUNNING) })
}

fn pid_text(pid: u32) -> String {
    if pid == 0 { "unknown".into() } else { pid.to_string() }
}

fn read_state(home: &Home) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(home.dir.join("gateway_state.json")).ok()?).ok()
}

/// A planned stop: the marker first, so the gateway knows the SIGTERM was meant and
/// exits 0 (and systemd's `Restart=on-failure` leaves it stopped).
pub fn stop(home: &Home, effective: &Effective, args: &GatewayStopArgs) -> anyhow::Result<ExitCode> {
    let Some(target) = running(home)? else {
        // Not an error: systemd runs `ExecStop` even after the gateway exited by itself.
        println!("herald gateway: not running in {}", home.dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    if target.pid == 0 {
        bail!("a gateway holds {} but its pid is unknown yet; try again", home.dir.join("gateway.lock").display());
    }
    let wait = args.timeout.map(Duration::from_secs).unwrap_or_else(|| stop_wait(&effective.config));
    stop_target(home, &target, wait)?;
    println!("herald gateway: stopped (pid {})", target.pid);
    Ok(ExitCode::SUCCESS)
}

fn stop_target(home: &Home, target: &ProcessRecord, wait: Duration) -> anyhow::Result<()> {
    PlannedStopMarker::write(&home.dir, target).context("cannot write the planned-stop marker")?;
    let outcome = match stop_process(target.pid, wait, false, || lock_is_free(&home.dir)) {
        Ok(outcome) => outcome,
        Err(error) => {
            PlannedStopMarker::remove(&home.dir);
            return Err(error).with_context(|| format!("cannot signal the gateway (pid {})", target.pid));
        }
    };
    if outcome == StopOutcome::StillRunning {
        bail!(
            "the gateway (pid {}) is still running after {} s (still draining?); wait, or run \
             `herald gateway stop --timeout <seconds>` again, or `kill -9 {}` to stop it now",
            target.pid,
            wait.as_secs(),
            target.pid
        );
    }
    Ok(())
}

/// Whether `pid` runs inside systemd's unit (its cgroup names the unit).
fn under_systemd(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(UNIT_NAME))
}

/// Stops the gateway (if one runs) and starts a new one in the background, logging to
/// `logs/gateway.log`. When systemd runs it, systemd restarts it instead, so the new
/// process stays supervised.
pub async fn restart(
    home: &Home,
    effective: &Effective,
    set_flags: &[String],
    args: &GatewayStopArgs,
) -> anyhow::Result<ExitCode> {
    let wait = args.timeout.map(Duration::from_secs).unwrap_or_else(|| stop_wait(&effective.config));
    if let Some(target) = running(home)? {
        if target.pid != 0 && under_systemd(target.pid) {
            let status = std::process::Command::new("systemctl")
                .args(["--user", "restart", UNIT_NAME])
                .status()
                .context("cannot run systemctl")?;
            if !status.success() {
                bail!("`systemctl --user restart {UNIT_NAME}` failed ({status})");
            }
            println!("herald gateway: restarted by systemd ({UNIT_NAME})");
            return Ok(ExitCode::SUCCESS);
        }
        stop_target(home, &target, wait)?;
        println!("herald gateway: stopped (pid {})", target.pid);
    }
    let pid = spawn_background(home, set_flags).await?;
    println!("herald gateway: started (pid {pid}); logs in {}", home.dir.join("logs/gateway.log").display());
    Ok(ExitCode::SUCCESS)
}

async fn spawn_background(home: &Home, set_flags: &[String]) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let logs = home.dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log_path = logs.join("gateway.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find the herald binary")?;
    let mut command = std::process::Command::new(exe);
    command.arg("--home").arg(&home.dir);
    for set in set_flags {
        command.arg("--set").arg(set);
    }
    command
        .args(["gateway", "run"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log)
        // Its own process group: a Ctrl-C at this terminal must not reach it.
        .process_group(0);
    let mut child = command.spawn().context("cannot start the gateway")?;
    let pid = child.id();
    // Started means it holds the lock; an early exit means it failed, and says why in the log.
    for _ in 0..300 {
        if let Some(status) = child.try_wait().context("cannot watch the new gateway")? {
            bail!("the gateway exited at startup ({status}); see {}", log_path.display());
        }
        if running(home)?.is_some_and(|r| r.pid == pid) {
            return Ok(pid);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway (pid {pid}) did not start within 30 s; see {}", log_path.display())
}
