//! WeChat over the iLink bot protocol: the pure building blocks (media crypto, text
//! formatting and splitting, the CDN host allowlist) that the adapter is built on.

pub mod crypto;
pub mod format;
pub mod ssrf;
