//! Test-only servers for herald.
//!
//! [`llm`]: a scripted LLM on 127.0.0.1 speaking the OpenAI and Anthropic wire
//! formats, for integration tests (in process) and benchmarks (the
//! `herald-testkit-llm` binary).
//!
//! [`telegram`]: a fake Telegram Bot API server enforcing Telegram's rules, with a
//! control interface (in process and over HTTP, `herald-testkit-telegram`).
//!
//! [`weixin`]: a fake WeChat iLink bot server and CDN checking what clients send, with
//! a control interface (in process, over HTTP, and a typed client;
//! `herald-testkit-weixin`).
//!
//! [`conformance`]: the adapter conformance suite every adapter runs against its
//! platform's fake server.

mod changes;
pub mod conformance;
pub mod llm;
pub mod state;
pub mod telegram;
pub mod weixin;

pub use llm::ScriptedLlm;
pub use state::MemState;
