//! The gateway runner.
//!
//! It holds what every entry point shares: the conversation runner used by the terminal
//! chat ([`Conversations`]), the API server's view of the gateway ([`GatewayBackend`]),
//! the persona and memory files a prompt is built from ([`PromptFiles`]), and the
//! gateway's lifecycle state ([`GatewayStatus`], `gateway_state.json`).

pub mod admission;
pub mod backend;
pub mod commands;
pub mod conversation;
pub mod delivery;
pub mod lifecycle;
pub mod prompt;
pub mod runner;
pub mod search;
pub mod status;
pub mod supervisor;

pub use backend::{AgentSlot, BackendSetup, GatewayBackend, RouteAgent};
pub use conversation::{ConversationError, Conversations, InboundTurn, InboundTurnReport, TurnReport};
pub use prompt::{PromptFiles, PromptTexts};
pub use search::StoreTranscriptSearch;
pub use status::{GatewayState, GatewayStatus, write_atomic};
