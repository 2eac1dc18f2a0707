//! The gateway runner.
//!
//! Today it holds the conversation runner that every entry point shares (the terminal
//! chat now; platform adapters and the API server later): it keeps each conversation in
//! the store and runs the agent's turns over it.

pub mod conversation;
pub mod search;

pub use conversation::{ConversationError, Conversations, TurnReport};
pub use search::StoreTranscriptSearch;
