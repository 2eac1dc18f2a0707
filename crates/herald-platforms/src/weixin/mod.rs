//! WeChat over the iLink bot protocol.

pub mod parse;
pub mod types;
