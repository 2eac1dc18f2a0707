//! `.restart_failure_counts`: `{session_key: count}` of sessions that were mid-turn when
//! the gateway stopped (Hermes §3.6). A session caught by three stops in a row is
//! probably what brings the gateway down, so the runner suspends it instead of resuming.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::write_atomic;

pub const RESTART_FAILURE_COUNTS_FILE: &str = ".restart_failure_counts";
/// Hermes's `_STUCK_LOOP_THRESHOLD`.
pub const STUCK_LOOP_THRESHOLD: u32 = 3;

/// The counts, loaded at startup and written at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartFailureCounts {
    path: PathBuf,
    counts: BTreeMap<String, u32>,
}

impl RestartFailureCounts {
    /// Loads the file; a missing or unreadable one is empty (it only ever protects).
    pub fn load(home: &Path) -> RestartFailureCounts {
        let path = home.join(RESTART_FAILURE_COUNTS_FILE);
        let counts = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        RestartFailureCounts { path, counts }
    }

    pub fn count(&self, session_key: &str) -> u32 {
        self.counts.get(session_key).copied().unwrap_or(0)
    }

    /// At startup: the keys at or over the threshold, which the runner suspends. They are
    /// forgotten here, and the file is removed until the next shutdown writes it.
    pub fn take_stuck(&mut self) -> Vec<String> {
        let stuck: Vec<String> =
            self.counts.iter().filter(|(_, n)| **n >= STUCK_LOOP_THRESHOLD).map(|(k, _)| k.clone()).collect();
        for key in &stuck {
            self.counts.remove(key);
        }
        let _ = std::fs::remove_file(&self.path);
        stuck
    }

    /// A turn of this session succeeded: it is not stuck.
    pub fn turn_succeeded(&mut self, session_key: &str) {
        self.counts.remove(session_key);
    }

    /// At shutdown: sessions active now get one more, all others are dropped.
    pub fn save_at_shutdown<'a>(&mut self, active: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        let next: BTreeMap<String, u32> = active.into_iter().map(|key| (key.to_owned(), self.count(key) + 1)).collect();
        self.counts = next;
        if self.counts.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        write_atomic(&self.path, &serde_json::to_vec(&self.counts).map_err(io::Error::other)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_interrupted_shutdowns_in_a_row_make_a_session_stuck() {
        let home = tempfile::tempdir().expect("tempdir");
        for _ in 0..3 {
            let mut counts = RestartFailureCounts::load(home.path());
            assert!(counts.take_stuck().is_empty());
            // take_stuck removed the file, but the loaded counts survive to shutdown.
            counts.save_at_shutdown(["agent:main:telegram:dm:1"]).expect("save");
        }
        let mut counts = RestartFailureCounts::load(home.path());
        assert_eq!(counts.count("agent:main:telegram:dm:1"), 3);
        assert_eq!(counts.take_stuck(), vec!["agent:main:telegram:dm:1".to_owned()]);
        assert!(!home.path().join(RESTART_FAILURE_COUNTS_FILE).exists());
    }

    #[test]
    fn sessions_not_active_at_shutdown_and_successful_turns_are_forgotten() {
        let home = tempfile::tempdir().expect("tempdir");
        let mut counts = RestartFailureCounts::load(home.path());
        counts.save_at_shutdown(["a", "b"]).expect("save");
        let mut counts = RestartFailureCounts::load(home.path());
        counts.turn_succeeded("a");
        counts.save_at_shutdown(["a", "c"]).expect("save");
        let raw: BTreeMap<String, u32> =
            serde_json::from_slice(&std::fs::read(home.path().join(RESTART_FAILURE_COUNTS_FILE)).expect("read"))
                .expect("json");
        assert_eq!(raw, BTreeMap::from([("a".to_owned(), 1), ("c".to_owned(), 1)]));
        let mut counts = RestartFailureCounts::load(home.path());
        counts.save_at_shutdown([]).expect("save");
        assert!(!home.path().join(RESTART_FAILURE_COUNTS_FILE).exists());
    }

    #[test]
    fn a_broken_file_counts_as_empty() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join(RESTART_FAILURE_COUNTS_FILE), b"[1,2").expect("write");
        assert_eq!(RestartFailureCounts::load(home.path()).count("x"), 0);
    }
}
