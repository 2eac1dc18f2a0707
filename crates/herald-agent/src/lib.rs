//! The agent: LLM providers, the turn loop, and tools.
//!
//! The agent never knows which platform a turn came from except through the session
//! context text it is given.

pub mod prompt;
pub mod provider;
pub mod tools;
pub mod turn;

pub use turn::{Agent, AgentSettings, ReasoningEffort, Steering, TurnError, TurnEvent, TurnInput, TurnOutput};
