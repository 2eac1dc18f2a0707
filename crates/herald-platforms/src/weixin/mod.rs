//! WeChat over the iLink bot protocol.

pub mod api;
pub mod parse;
pub mod types;
