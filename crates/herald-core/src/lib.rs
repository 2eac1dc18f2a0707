//! herald's shared vocabulary.
//!
//! Every other crate speaks in these types. Nothing here performs I/O: configuration is
//! parsed from text the caller has already read, so the same code serves the binary,
//! the tests and the fuzz targets.

pub mod adapter;
pub mod backend;
pub mod config;
pub mod login;
pub mod message;
pub mod platform;
pub mod session_key;
pub mod source;
pub mod truncate;

pub use adapter::{
    Accepted, Adapter, AdapterError, AdapterState, Attachment, Capabilities, CredentialScope, Inbound, InboundSink,
    LengthUnit, MediaKind, OutboundOp, ReplyContext, SendError, Sent, SinkError, Target, TextFormat,
};
pub use message::{FinishReason, Message, Role, ToolCall, Usage};
pub use platform::Platform;
pub use session_key::{SessionKey, SessionKeyPolicy, build_session_key, is_path_unsafe, is_session_key_unsafe};
pub use source::{ChatType, Source};
