//! This process's identity as the lifecycle files record it, and signals to another one.

use std::sync::OnceLock;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, test_kill_process};
use serde::{Deserialize, Serialize};

/// The `kind` every herald lifecycle file carries (Hermes writes `hermes-gateway`).
pub const KIND: &str = "herald-gateway";

/// `{"pid","kind","argv","start_time"}`: the content of `gateway.pid` and `gateway.lock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub pid: u32,
    pub kind: String,
    #[serde(default)]
    pub argv: Vec<String>,
    /// Seconds since the Unix epoch. With the pid it tells a live gateway from a later
    /// process that got the same pid.
    #[serde(default)]
    pub start_time: Option<f64>,
}

impl ProcessRecord {
    /// This process.
    pub fn current() -> ProcessRecord {
        ProcessRecord {
            pid: std::process::id(),
            kind: KIND.to_owned(),
            argv: std::env::args().collect(),
            start_time: Some(process_start_time()),
        }
    }

    /// Whether `self` describes the same process as `other` (same pid, and the same start
    /// time when both are known).
    pub fn same_process(&self, pid: u32, start_time: Option<f64>) -> bool {
        same_process(self.pid, self.start_time, pid, start_time)
    }
}

pub(crate) fn same_process(pid_a: u32, start_a: Option<f64>, pid_b: u32, start_b: Option<f64>) -> bool {
    pid_a == pid_b
        && match (start_a, start_b) {
            (Some(a), Some(b)) => (a - b).abs() < 0.001,
            _ => true,
        }
}

/// When this process started, in seconds since the Unix epoch, fixed at the first call
/// so every file (and `gateway_state.json`) records the same value.
pub fn process_start_time() -> f64 {
    static START: OnceLock<f64> = OnceLock::new();
    *START.get_or_init(now_secs)
}

pub(crate) fn now_secs() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

pub(crate) fn pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Whether a process with this pid exists (a zombie counts: it has not been reaped).
pub fn is_alive(target: u32) -> bool {
    match pid(target) {
        Some(p) => match test_kill_process(p) {
            Ok(()) => true,
            // It exists but belongs to someone else.
            Err(e) => e == rustix::io::Errno::PERM,
        },
        None => false,
    }
}

/// Sends SIGTERM.
pub fn terminate(target: u32) -> std::io::Result<()> {
    send(target, Signal::TERM)
}

/// Sends SIGKILL.
pub fn kill(target: u32) -> std::io::Result<()> {
    send(target, Signal::KILL)
}

fn send(target: u32, signal: Signal) -> std::io::Result<()> {
    let p = pid(target).ok_or_else(|| std::io::Error::other(format!("{target} is not a valid pid")))?;
    kill_process(p, signal).map_err(std::io::Error::from)
}

/// How [`stop_process`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// It exited after SIGTERM within the bound.
    Exited,
    /// It did not, and was killed with SIGKILL.
    Killed,
    /// It still runs after SIGTERM and the bound; SIGKILL was not asked for.
    StillRunning,
}

/// Sends SIGTERM to `target` and polls `gone` (the lock is free, the pid is gone) every
/// 100 ms until it says yes or `wait` passed; then SIGKILL when `kill_after` is set, and
/// waits up to 5 s more for `gone`.
pub fn stop_process(
    target: u32,
    wait: Duration,
    kill_after: bool,
    mut gone: impl FnMut() -> bool,
) -> std::io::Result<StopOutcome> {
    match terminate(target) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => return Ok(StopOutcome::Exited),
        Err(e) => return Err(e),
    }
    if poll(wait, &mut gone) {
        return Ok(StopOutcome::Exited);
    }
    if !kill_after {
        return Ok(StopOutcome::StillRunning);
    }
    tracing::warn!(pid = target, "the gateway did not stop after SIGTERM within {wait:?}; sending SIGKILL");
    match kill(target) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => return Ok(StopOutcome::Exited),
        Err(e) => return Err(e),
    }
    if poll(Duration::from_secs(5), &mut gone) { Ok(StopOutcome::Killed) } else { Ok(StopOutcome::StillRunning) }
}

fn poll(within: Duration, gone: &mut impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if gone() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_record_keeps_one_start_time() {
        let a = ProcessRecord::current();
        let b = ProcessRecord::current();
        assert_eq!(a.pid, std::process::id());
        assert_eq!(a.kind, "herald-gateway");
        assert_eq!(a.start_time, b.start_time);
        assert!(!a.argv.is_empty());
    }

    #[test]
    fn the_same_process_needs_the_pid_and_a_matching_start_time_when_known() {
        let me = ProcessRecord { pid: 10, kind: KIND.into(), argv: vec![], start_time: Some(100.5) };
        assert!(me.same_process(10, Some(100.5)));
        assert!(me.same_process(10, None));
        assert!(!me.same_process(10, Some(200.0)), "a recycled pid is another process");
        assert!(!me.same_process(11, Some(100.5)));
    }

    #[test]
    fn this_process_is_alive_and_a_child_that_exited_and_was_reaped_is_not() {
        assert!(is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let id = child.id();
        child.wait().expect("wait");
        assert!(!is_alive(id));
        assert!(!is_alive(0), "pid 0 is not a process");
    }

    #[test]
    fn stop_process_terminates_a_child() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let id = child.id();
        let mut reaped = false;
        let outcome = stop_process(id, Duration::from_secs(10), true, || {
            reaped = reaped || matches!(child.try_wait(), Ok(Some(_)));
            reaped
        })
        .expect("stop");
        assert_eq!(outcome, StopOutcome::Exited);
    }
}
