//! The notes a process leaves before it signals the gateway, so the gateway knows the
//! SIGTERM was meant: `.gateway-takeover.json` (`herald gateway run --replace`) and
//! `.gateway-planned-stop.json` (`herald gateway stop`). A marker counts only for the
//! process it names (pid, and start time when known) and for 60 s after it was written,
//! so a stale one never turns a later crash into a "planned" stop.

use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::process::{ProcessRecord, now_secs, same_process};
use crate::write_atomic;

pub const TAKEOVER_FILE: &str = ".gateway-takeover.json";
pub const PLANNED_STOP_FILE: &str = ".gateway-planned-stop.json";
/// How long a marker stays valid, in seconds (Hermes's TTL).
pub const MARKER_TTL_SECS: f64 = 60.0;

/// Written by the process that replaces the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeoverMarker {
    pub target_pid: u32,
    pub target_start_time: Option<f64>,
    pub replacer_pid: u32,
    /// The replacer's home (Hermes's field name, kept for compatibility of the file).
    pub replacer_hermes_home: String,
    pub written_at: f64,
}

/// Written by `herald gateway stop` (and `restart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStopMarker {
    pub target_pid: u32,
    pub target_start_time: Option<f64>,
    pub stopper_pid: u32,
    pub written_at: f64,
}

impl TakeoverMarker {
    /// Writes the marker for `target` in `home`, from this process.
    pub fn write(home: &Path, target: &ProcessRecord) -> io::Result<TakeoverMarker> {
        let marker = TakeoverMarker {
            target_pid: target.pid,
            target_start_time: target.start_time,
            replacer_pid: std::process::id(),
            replacer_hermes_home: home.display().to_string(),
            written_at: now_secs(),
        };
        write(home, TAKEOVER_FILE, &marker)?;
        Ok(marker)
    }

    /// The marker, if it names `me` and is fresh; it is removed either way once read,
    /// unless it names another process.
    pub fn take(home: &Path, me: &ProcessRecord) -> Option<TakeoverMarker> {
        take(home, TAKEOVER_FILE, me, |m: &TakeoverMarker| (m.target_pid, m.target_start_time, m.written_at))
    }
}

impl PlannedStopMarker {
    pub fn write(home: &Path, target: &ProcessRecord) -> io::Result<PlannedStopMarker> {
        let marker = PlannedStopMarker {
            target_pid: target.pid,
            target_start_time: target.start_time,
            stopper_pid: std::process::id(),
            written_at: now_secs(),
        };
        write(home, PLANNED_STOP_FILE, &marker)?;
        Ok(marker)
    }

    pub fn take(home: &Path, me: &ProcessRecord) -> Option<PlannedStopMarker> {
        take(home, PLANNED_STOP_FILE, me, |m: &PlannedStopMarker| (m.target_pid, m.target_start_time, m.written_at))
    }

    /// Removes the marker (a stop that failed to send its signal).
    pub fn remove(home: &Path) {
        let _ = std::fs::remove_file(home.join(PLANNED_STOP_FILE));
    }
}

fn write<T: Serialize>(home: &Path, name: &str, marker: &T) -> io::Result<()> {
    write_atomic(&home.join(name), &serde_json::to_vec(marker).map_err(io::Error::other)?)
}

fn take<T: DeserializeOwned>(
    home: &Path,
    name: &str,
    me: &ProcessRecord,
    fields: impl Fn(&T) -> (u32, Option<f64>, f64),
) -> Option<T> {
    let path = home.join(name);
    let bytes = std::fs::read(&path).ok()?;
    let Ok(marker) = serde_json::from_slice::<T>(&bytes) else {
        tracing::warn!(path = %path.display(), "ignoring an unreadable stop marker");
        let _ = std::fs::remove_file(&path);
        return None;
    };
    let (pid, start_time, written_at) = fields(&marker);
    if !same_process(me.pid, me.start_time, pid, start_time) {
        // Meant for another process (a replacer's own future target); not ours to remove,
        // unless it is stale.
        if !fresh(written_at) {
            let _ = std::fs::remove_file(&path);
        }
        return None;
    }
    let _ = std::fs::remove_file(&path);
    fresh(written_at).then_some(marker)
}

fn fresh(written_at: f64) -> bool {
    let age = now_secs() - written_at;
    // A little slack for clocks that step backwards.
    (-5.0..=MARKER_TTL_SECS).contains(&age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> ProcessRecord {
        ProcessRecord::current()
    }

    #[test]
    fn a_planned_stop_marker_for_this_process_is_taken_once() {
        let home = tempfile::tempdir().expect("tempdir");
        assert_eq!(PlannedStopMarker::take(home.path(), &me()), None);
        let written = PlannedStopMarker::write(home.path(), &me()).expect("write");
        assert_eq!(written.stopper_pid, std::process::id());
        assert_eq!(PlannedStopMarker::take(home.path(), &me()), Some(written));
        assert_eq!(PlannedStopMarker::take(home.path(), &me()), None, "consumed");
        assert!(!home.path().join(PLANNED_STOP_FILE).exists());
    }

    #[test]
    fn a_marker_for_another_process_or_start_time_does_not_count_and_stays() {
        let home = tempfile::tempdir().expect("tempdir");
        let mut other = me();
        other.start_time = other.start_time.map(|t| t - 1000.0);
        TakeoverMarker::write(home.path(), &other).expect("write");
        assert_eq!(TakeoverMarker::take(home.path(), &me()), None, "a recycled pid is not the target");
        assert!(home.path().join(TAKEOVER_FILE).exists());
        let mut someone = me();
        someone.pid += 1;
        TakeoverMarker::write(home.path(), &someone).expect("write");
        assert_eq!(TakeoverMarker::take(home.path(), &me()), None);
    }

    #[test]
    fn a_takeover_marker_names_the_replacer_and_its_home() {
        let home = tempfile::tempdir().expect("tempdir");
        TakeoverMarker::write(home.path(), &me()).expect("write");
        let taken = TakeoverMarker::take(home.path(), &me()).expect("taken");
        assert_eq!(taken.replacer_pid, std::process::id());
        assert_eq!(taken.replacer_hermes_home, home.path().display().to_string());
    }

    #[test]
    fn a_stale_or_broken_marker_is_ignored_and_removed() {
        let home = tempfile::tempdir().expect("tempdir");
        let stale = PlannedStopMarker {
            target_pid: std::process::id(),
            target_start_time: me().start_time,
            stopper_pid: 1,
            written_at: now_secs() - MARKER_TTL_SECS - 1.0,
        };
        write(home.path(), PLANNED_STOP_FILE, &stale).expect("write");
        assert_eq!(PlannedStopMarker::take(home.path(), &me()), None);
        assert!(!home.path().join(PLANNED_STOP_FILE).exists());

        std::fs::write(home.path().join(TAKEOVER_FILE), b"{not json").expect("write");
        assert_eq!(TakeoverMarker::take(home.path(), &me()), None);
        assert!(!home.path().join(TAKEOVER_FILE).exists());
    }
}
