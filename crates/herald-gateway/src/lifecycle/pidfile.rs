//! `gateway.pid`: `{"pid","kind","argv","start_time"}` of the running gateway.
//!
//! Hermes creates it with O_CREAT|O_EXCL; here it is written only while `gateway.lock`
//! is held, which already excludes a second writer, so a leftover file from a crashed
//! process is simply replaced (atomically, so readers never see half of it).

use std::io;
use std::path::{Path, PathBuf};

use super::process::ProcessRecord;
use crate::write_atomic;

pub const PID_FILE: &str = "gateway.pid";

/// The written `gateway.pid`; dropping it removes the file if it is still ours.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    record: ProcessRecord,
}

impl PidFile {
    /// Writes this process's record to `home/gateway.pid`. Call with the instance lock held.
    pub fn write(home: &Path) -> io::Result<PidFile> {
        let path = home.join(PID_FILE);
        let record = ProcessRecord::current();
        write_atomic(&path, &serde_json::to_vec(&record).map_err(io::Error::other)?)?;
        Ok(PidFile { path, record })
    }

    /// The record in `home/gateway.pid`, if there is a readable one.
    pub fn read(home: &Path) -> Option<ProcessRecord> {
        serde_json::from_slice(&std::fs::read(home.join(PID_FILE)).ok()?).ok()
    }

    pub fn record(&self) -> &ProcessRecord {
        &self.record
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A replacer may already have written its own; leave that one alone.
        let ours = serde_json::from_slice::<ProcessRecord>(&std::fs::read(&self.path).unwrap_or_default())
            .is_ok_and(|r| r.same_process(self.record.pid, self.record.start_time));
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_holds_this_process_and_goes_away_on_drop() {
        let home = tempfile::tempdir().expect("tempdir");
        assert_eq!(PidFile::read(home.path()), None);
        let file = PidFile::write(home.path()).expect("write");
        let read = PidFile::read(home.path()).expect("read");
        assert_eq!(&read, file.record());
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(home.path().join(PID_FILE)).expect("raw")).expect("json");
        for key in ["pid", "kind", "argv", "start_time"] {
            assert!(raw.get(key).is_some(), "{key} in {raw}");
        }
        drop(file);
        assert!(!home.path().join(PID_FILE).exists());
    }

    #[test]
    fn a_pid_file_rewritten_by_another_process_is_left_in_place() {
        let home = tempfile::tempdir().expect("tempdir");
        let file = PidFile::write(home.path()).expect("write");
        let other = br#"{"pid":4242,"kind":"herald-gateway","argv":[],"start_time":1.0}"#;
        std::fs::write(home.path().join(PID_FILE), other).expect("overwrite");
        drop(file);
        assert_eq!(PidFile::read(home.path()).expect("still there").pid, 4242);
    }
}
