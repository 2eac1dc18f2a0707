//! Test-only servers for herald.
//!
//! [`llm`]: a scripted LLM on 127.0.0.1 speaking the OpenAI and Anthropic wire
//! formats, for integration tests (in process) and benchmarks (the
//! `herald-testkit-llm` binary).

pub mod llm;

pub use llm::ScriptedLlm;
