//! The binary's WeChat glue: drawing the login QR.

pub mod qr;

/// Pause between two status polls of a QR login (TW: one second), so a server that
/// answers `wait` at once (a proxy, a load balancer) is not hammered.
pub const POLL_GAP: std::time::Duration = std::time::Duration::from_secs(1);
