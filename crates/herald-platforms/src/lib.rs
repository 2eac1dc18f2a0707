//! Chat platform adapters.
//!
//! Each platform is one module implementing herald-core's adapter vocabulary, behind a
//! cargo feature of its own, and listed in [`REGISTRY`].

use herald_core::Platform;

/// Why an adapter did not download a user's file.
#[cfg(any(feature = "telegram", feature = "weixin"))]
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Worth retrying the whole message later (network trouble, 5xx).
    #[error("{0}")]
    Transient(String),
    /// This file will never be downloaded (refused URL, too large, bad key, 4xx); the
    /// message is delivered without it.
    #[error("{0}")]
    Skipped(String),
}

#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(feature = "weixin")]
pub mod weixin;

/// A platform this build can connect to.
#[derive(Debug, Clone, Copy)]
pub struct PlatformEntry {
    pub platform: fn() -> Platform,
    /// The environment variable whose presence enables the platform.
    pub enabled_by: &'static str,
}

/// Every platform compiled into this build.
pub const REGISTRY: &[PlatformEntry] = &[
    #[cfg(feature = "telegram")]
    PlatformEntry { platform: || Platform::Telegram, enabled_by: "TELEGRAM_BOT_TOKEN" },
    // Also `WEIXIN_TOKEN`, or an account saved by `herald login weixin`.
    #[cfg(feature = "weixin")]
    PlatformEntry { platform: || Platform::Weixin, enabled_by: "WEIXIN_ACCOUNT_ID" },
];

#[cfg(test)]
mod tests {
    #[test]
    fn registry_names_are_unique() {
        let mut names: Vec<String> = super::REGISTRY.iter().map(|e| (e.platform)().to_string()).collect();
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[cfg(feature = "telegram")]
    #[test]
    fn telegram_is_registered() {
        assert!(super::REGISTRY.iter().any(|e| (e.platform)() == herald_core::Platform::Telegram));
    }

    #[cfg(feature = "weixin")]
    #[test]
    fn weixin_is_registered() {
        assert!(super::REGISTRY.iter().any(|e| (e.platform)() == herald_core::Platform::Weixin));
    }
}
