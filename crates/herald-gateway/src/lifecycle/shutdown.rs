//! `.clean_shutdown`: written after a shutdown whose drain finished (Hermes §3.6). Its
//! absence at the next start means the gateway crashed or was killed mid-turn, and the
//! runner marks recently active sessions to resume.

use std::io;
use std::path::Path;

use super::process::now_secs;
use crate::write_atomic;

pub const CLEAN_SHUTDOWN_FILE: &str = ".clean_shutdown";

/// Records that this shutdown was clean (call only when the drain did not time out).
pub fn mark_clean_shutdown(home: &Path) -> io::Result<()> {
    write_atomic(&home.join(CLEAN_SHUTDOWN_FILE), format!("{}", now_secs()).as_bytes())
}

/// At startup: whether the previous shutdown was clean. The marker is removed, so a
/// crash of this run is not mistaken for a clean stop.
pub fn take_clean_shutdown(home: &Path) -> bool {
    std::fs::remove_file(home.join(CLEAN_SHUTDOWN_FILE)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_seen_once() {
        let home = tempfile::tempdir().expect("tempdir");
        assert!(!take_clean_shutdown(home.path()), "a first start has no marker");
        mark_clean_shutdown(home.path()).expect("mark");
        assert!(take_clean_shutdown(home.path()));
        assert!(!take_clean_shutdown(home.path()), "consumed at startup");
    }
}
