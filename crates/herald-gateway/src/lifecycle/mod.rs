//! The gateway process's life on disk, as Hermes keeps it (§8 of the reference): who
//! runs in a home (`gateway.pid`, the flock'd `gateway.lock`), how another process asks
//! it to stop (`.gateway-takeover.json`, `.gateway-planned-stop.json`) and so which exit
//! code it ends with, what a clean shutdown leaves for the next start (`.clean_shutdown`,
//! `.restart_failure_counts`), and the machine-wide credential locks that keep two
//! gateways off one bot token.
//!
//! Each file has one module. Everything here is synchronous file work: it runs once at
//! startup or shutdown, or in a short-lived command.

pub mod credential;
pub mod exit;
pub mod instance;
pub mod markers;
pub mod pidfile;
pub mod process;
pub mod restart_counts;
pub mod shutdown;

pub use credential::{CredentialLock, CredentialLockError, credential_lock_dir};
pub use exit::{EXIT_PLANNED, EXIT_UNPLANNED, StopKind};
pub use instance::{InstanceLock, InstanceLockError, LockProbe};
pub use markers::{MARKER_TTL_SECS, PlannedStopMarker, TakeoverMarker};
pub use pidfile::PidFile;
pub use process::{ProcessRecord, StopOutcome, process_start_time, stop_process};
pub use restart_counts::{RestartFailureCounts, STUCK_LOOP_THRESHOLD};
pub use shutdown::{mark_clean_shutdown, take_clean_shutdown};
