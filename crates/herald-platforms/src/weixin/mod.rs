//! WeChat over the iLink bot API: QR login, `getupdates` long polling with a persisted
//! cursor, per-peer context tokens, and AES-128-ECB media on WeChat's CDN.

pub mod account;
pub mod crypto;
pub mod format;
pub mod login;
pub mod ssrf;
