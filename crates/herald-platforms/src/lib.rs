//! Chat platform adapters.
//!
//! Each platform is one module implementing herald-core's adapter vocabulary, behind a
//! cargo feature of its own, and listed in [`REGISTRY`].

use herald_core::Platform;

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
}
