//! The values of the gateway's part of the [`crate::Store`] API: the inbound log, the
//! outbox, adapter state and pairing.

use serde::{Deserialize, Serialize};

use crate::TimestampMs;

/// A platform message to record before the adapter advances its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInbound {
    /// The platform value (`telegram`, ...).
    pub platform: String,
    /// The bot account on that platform, when a gateway runs several; `None` for the
    /// only one. An empty string is refused: use `None`.
    pub account: Option<String>,
    /// The platform's identity of the message, e.g. `"<chat_id>:<message_id>"`.
    pub dedup_key: String,
    /// The serialised `herald_core::Inbound`; must be JSON.
    pub payload_json: String,
    pub received_at: TimestampMs,
}

/// What [`crate::Store::record_inbound`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundRecorded {
    /// The row's id; for a duplicate, the id of the row recorded first.
    pub id: i64,
    /// The message was already recorded; nothing changed.
    pub duplicate: bool,
}

/// How far the gateway got with an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundState {
    /// Durable, no turn has started yet.
    Recorded,
    /// A turn began and the user's message is in the session's transcript.
    Started,
    /// Done: answered, dropped, refused, ... (see the row's `outcome`).
    Finished,
}

impl InboundState {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundState::Recorded => "recorded",
            InboundState::Started => "started",
            InboundState::Finished => "finished",
        }
    }

    pub fn parse(text: &str) -> Option<InboundState> {
        match text {
            "recorded" => Some(InboundState::Recorded),
            "started" => Some(InboundState::Started),
            "finished" => Some(InboundState::Finished),
            _ => None,
        }
    }
}

impl std::fmt::Display for InboundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inbound message as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRow {
    pub id: i64,
    pub platform: String,
    pub account: Option<String>,
    pub dedup_key: String,
    pub payload_json: String,
    pub received_at: TimestampMs,
    pub state: InboundState,
    /// The session whose transcript holds the message, once started.
    pub session_id: Option<String>,
    pub started_at: Option<TimestampMs>,
    pub finished_at: Option<TimestampMs>,
    /// What became of it (`answered`, `duplicate`, `unauthorized`, ...), once finished.
    pub outcome: Option<String>,
}

/// One send to queue in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbound {
    pub platform: String,
    /// As in [`NewInbound::account`].
    pub account: Option<String>,
    /// The session the send belongs to, if any (pairing replies have none).
    pub session_id: Option<String>,
    /// Where to send (the serialised target); must be JSON.
    pub target_json: String,
    /// What to send (the serialised `herald_core::OutboundOp`); must be JSON.
    pub op_json: String,
    /// Not due before this time; `None` is due at once.
    pub not_before: Option<TimestampMs>,
}

/// Where an outbound send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundState {
    /// Waiting to be sent (first time or retry) from `due_at` on.
    Pending,
    /// Claimed by a sender; the send may be happening right now.
    InFlight,
    /// The platform accepted it.
    Sent,
    /// Given up for good.
    Failed,
    /// Was in flight when the process stopped: it may or may not have reached the
    /// platform, and it is never sent again.
    Unknown,
}

impl OutboundState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundState::Pending => "pending",
            OutboundState::InFlight => "in_flight",
            OutboundState::Sent => "sent",
            OutboundState::Failed => "failed",
            OutboundState::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<OutboundState> {
        match text {
            "pending" => Some(OutboundState::Pending),
            "in_flight" => Some(OutboundState::InFlight),
            "sent" => Some(OutboundState::Sent),
            "failed" => Some(OutboundState::Failed),
            "unknown" => Some(OutboundState::Unknown),
            _ => None,
        }
    }
}

impl std::fmt::Display for OutboundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A send as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRow {
    pub id: i64,
    pub platform: String,
    pub account: Option<String>,
    pub session_id: Option<String>,
    pub target_json: String,
    pub op_json: String,
    pub state: OutboundState,
    /// Claims so far (each claim is one attempt to send).
    pub attempts: u32,
    /// Due from this time on; 0 when due at once.
    pub due_at: TimestampMs,
    pub created_at: TimestampMs,
    pub updated_at: TimestampMs,
    pub last_error: Option<String>,
    /// The platform's id of the sent message, once sent.
    pub platform_message_id: Option<String>,
}

/// Rows removed by [`crate::Store::prune_gateway_log`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayPruned {
    pub inbound: u64,
    pub outbound: u64,
}

/// Hermes's pairing alphabet: no `0`/`O`, no `1`/`I`.
pub const PAIRING_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a pairing code.
pub const PAIRING_CODE_LENGTH: usize = 8;
/// A pairing code can be approved for this long after it was issued.
pub const PAIRING_CODE_TTL_SECONDS: i64 = 3600;
/// One code request per user per platform in this window.
pub const PAIRING_RATE_LIMIT_SECONDS: i64 = 600;
/// How long a platform refuses approvals after too many wrong codes.
pub const PAIRING_LOCKOUT_SECONDS: i64 = 3600;
/// Consecutive wrong codes on a platform that lock it.
pub const PAIRING_MAX_FAILED_ATTEMPTS: u32 = 5;
/// Live codes a platform may have at once.
pub const PAIRING_MAX_PENDING_PER_PLATFORM: usize = 3;

/// The answer to an unknown user's pairing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingRequest {
    /// A fresh code to send the user; only its salted hash is stored.
    Code(String),
    /// The user asked less than [`PAIRING_RATE_LIMIT_SECONDS`] ago: stay silent.
    RateLimited,
    /// No code now (the platform is locked out or has
    /// [`PAIRING_MAX_PENDING_PER_PLATFORM`] live codes). The request still counts for
    /// the rate limit, so the user hears "try again later" once, not on every message.
    Unavailable,
}

/// A user allowed in by pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedUser {
    pub platform: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub approved_at: TimestampMs,
}

/// A live pairing code, without the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPairing {
    pub platform: String,
    /// A random id (16 hex) for the request; it reveals nothing about the code.
    pub request_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub created_at: TimestampMs,
    /// The first 8 hex digits of the code's salted hash, as `hermes pairing list` shows.
    pub hash_prefix: String,
}

/// Everything `herald pairing list` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingList {
    /// Live codes, oldest first.
    pub pending: Vec<PendingPairing>,
    /// Approved users by platform, then approval time.
    pub approved: Vec<ApprovedUser>,
}
