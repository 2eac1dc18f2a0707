//! Why the gateway stopped, and the exit code that tells a supervisor whether to start
//! it again: 0 for a stop someone planned (`herald gateway stop`, a takeover by
//! `--replace`, Ctrl-C at a terminal), 75 (EX_TEMPFAIL) for anything else, so a bare
//! SIGTERM from an OOM killer or a failed startup is restarted by `Restart=on-failure`.

use std::path::Path;

use super::markers::{PlannedStopMarker, TakeoverMarker};
use super::process::ProcessRecord;

pub const EXIT_PLANNED: u8 = 0;
pub const EXIT_UNPLANNED: u8 = 75;

/// What ended the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum StopKind {
    /// `herald gateway stop` (or `restart`) asked for it.
    Planned { stopper_pid: u32 },
    /// A new gateway took this home over (`--replace`).
    Takeover { replacer_pid: u32 },
    /// SIGINT: a person stopped the foreground process.
    Interrupted,
    /// A signal nobody announced, or a failure.
    Unplanned,
}

impl StopKind {
    /// Reads (and consumes) the markers meant for `me` after `signal` arrived.
    pub fn after_signal(home: &Path, me: &ProcessRecord, signal: &str) -> StopKind {
        if let Some(m) = TakeoverMarker::take(home, me) {
            return StopKind::Takeover { replacer_pid: m.replacer_pid };
        }
        if let Some(m) = PlannedStopMarker::take(home, me) {
            return StopKind::Planned { stopper_pid: m.stopper_pid };
        }
        if signal == "SIGINT" { StopKind::Interrupted } else { StopKind::Unplanned }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            StopKind::Planned { .. } | StopKind::Takeover { .. } | StopKind::Interrupted => EXIT_PLANNED,
            StopKind::Unplanned => EXIT_UNPLANNED,
        }
    }

    pub fn is_planned(&self) -> bool {
        self.exit_code() == EXIT_PLANNED
    }

    /// Words for the log line.
    pub fn describe(&self) -> String {
        match self {
            StopKind::Planned { stopper_pid } => format!("planned stop requested by pid {stopper_pid}"),
            StopKind::Takeover { replacer_pid } => format!("taken over by pid {replacer_pid}"),
            StopKind::Interrupted => "interrupted".to_owned(),
            StopKind::Unplanned => "unplanned stop".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_decide_the_exit_code() {
        let home = tempfile::tempdir().expect("tempdir");
        let me = ProcessRecord::current();
        assert_eq!(StopKind::after_signal(home.path(), &me, "SIGTERM"), StopKind::Unplanned);
        assert_eq!(StopKind::Unplanned.exit_code(), 75);
        assert_eq!(StopKind::after_signal(home.path(), &me, "SIGINT").exit_code(), 0);

        PlannedStopMarker::write(home.path(), &me).expect("write");
        let planned = StopKind::after_signal(home.path(), &me, "SIGTERM");
        assert_eq!(planned, StopKind::Planned { stopper_pid: std::process::id() });
        assert_eq!(planned.exit_code(), 0);

        TakeoverMarker::write(home.path(), &me).expect("write");
        PlannedStopMarker::write(home.path(), &me).expect("write");
        let takeover = StopKind::after_signal(home.path(), &me, "SIGTERM");
        assert!(matches!(takeover, StopKind::Takeover { .. }), "a takeover wins: {takeover:?}");
        assert!(takeover.is_planned());
    }
}
