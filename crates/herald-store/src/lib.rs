//! Durable state behind one [`Store`] API.
//!
//! SQLite is the default backend ([`SqliteStore`]); the trait exists so that a
//! PostgreSQL backend can follow without touching callers.

mod adapter_state;
mod gateway_types;
mod sqlite;
mod types;

pub use adapter_state::{StoreAdapterState, namespace as adapter_state_namespace};
pub use gateway_types::*;
pub use sqlite::{SqliteOptions, SqliteStore, WriterStats, new_session_id};
pub use types::*;

use async_trait::async_trait;
use herald_core::{Usage, is_path_unsafe};

/// Everything the rest of herald may ask of durable storage.
///
/// Writes are durable when the returned future resolves. Implementations batch
/// concurrent writes into shared commits; reads never wait for the writer.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a session with the id in `new.id`, or a fresh one
    /// (`YYYYmmdd_HHMMSS_<8 hex>`, local time). An id in use is
    /// [`StoreError::SessionExists`]; an unusable one [`StoreError::InvalidInput`].
    async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError>;

    /// The session with this id, if any.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The most recently updated session for this routing key that has not ended.
    async fn latest_session_for_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Sessions, most recently updated first, one page at a time.
    async fn list_sessions(&self, query: SessionListQuery) -> Result<SessionList, StoreError>;

    /// Changes the lifecycle flags or title of a session; `None` fields are left alone.
    /// Does not move `updated_at`, which tracks conversation activity.
    async fn update_session(&self, id: &str, patch: SessionPatch) -> Result<(), StoreError>;

    /// Marks a session ended with a reason (`session_reset`, `new_session`, ...).
    /// Ending an already ended session keeps the first end time and reason.
    async fn end_session(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// Appends the messages of one turn and adds `usage` to the session's counters, in
    /// one write. Returns the new message ids in order.
    ///
    /// Also counts the messages and the assistant's tool calls, records
    /// `last_prompt_tokens` (when given) as the context fill, and moves `updated_at`.
    async fn append_turn(
        &self,
        session_id: &str,
        messages: Vec<NewMessage>,
        usage: Usage,
        last_prompt_tokens: Option<u64>,
    ) -> Result<Vec<i64>, StoreError>;

    /// Starts a turn in one write: creates the session `session.id` (required) unless it
    /// exists, then appends `messages` (usually the user's message). The other fields of
    /// `session` only matter when it is created.
    async fn open_turn(&self, session: NewSession, messages: Vec<NewMessage>) -> Result<OpenedTurn, StoreError>;

    /// Deletes a session, its messages and their search entries; sessions forked from it
    /// lose their parent. `false` when there was no such session.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;

    /// Ends `id` with reason `branched` and creates a child session (`parent_session_id`
    /// = `id`) holding a copy of its active messages, in one write. Returns the child.
    async fn fork_session(&self, id: &str) -> Result<SessionRecord, StoreError>;

    /// Takes back the end of a conversation (the gateway's `/undo` and `/retry`): marks
    /// the session's messages with id >= `from_message_id` inactive, in one write, and
    /// takes them off `message_count` and `tool_call_count`. They disappear from
    /// [`Store::messages`], [`Store::search`] and [`Store::fork_session`] but stay in the
    /// database. Does not move `updated_at`. Returns how many messages were deactivated:
    /// 0 when none were active from there on, so a second call changes nothing. An
    /// unknown session is [`StoreError::SessionNotFound`].
    async fn rewind_session(&self, session_id: &str, from_message_id: i64) -> Result<u64, StoreError>;

    /// Stores a response object (JSON text) under `id`, replacing an earlier one, and
    /// moves the head of the named `conversation` to it. The least recently used
    /// responses beyond the configured maximum are deleted, with the conversation heads
    /// that pointed at them.
    async fn put_response(&self, id: &str, data: String, conversation: Option<&str>) -> Result<(), StoreError>;

    /// The stored response `id` (JSON text), which counts as a use of it.
    async fn response(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Deletes a stored response; `false` when there was none.
    async fn delete_response(&self, id: &str) -> Result<bool, StoreError>;

    /// The response id at the head of a named conversation.
    async fn conversation_head(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// The active messages of a session, oldest first. An unknown session is
    /// [`StoreError::SessionNotFound`].
    async fn messages(&self, session_id: &str) -> Result<Vec<StoredMessage>, StoreError>;

    /// Full-text search across every session's active messages. Empty text is
    /// [`StoreError::InvalidInput`]; any other text, FTS5 syntax included, is searched
    /// for literally.
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError>;

    // ----- The gateway's inbound log -----

    /// Records a platform message: the durability point, before the adapter advances
    /// its cursor. A message with the same (platform, account, dedup_key) as one
    /// already recorded is `duplicate: true`, carries the first row's id, and changes
    /// nothing. Empty platform or dedup key, an empty account name, or a payload that
    /// is not JSON is [`StoreError::InvalidInput`].
    async fn record_inbound(&self, new: NewInbound) -> Result<InboundRecorded, StoreError>;

    /// [`Store::record_inbound`] for several messages in one write, in order: one wait
    /// for the writer instead of one per message (an adapter's batch of updates). Each
    /// message gets its own outcome (a bad one is [`StoreError::InvalidInput`] and
    /// changes nothing); a database failure fails them all.
    async fn record_inbound_many(
        &self,
        new: Vec<NewInbound>,
    ) -> Result<Vec<Result<InboundRecorded, StoreError>>, StoreError>;

    /// The messages of `platform` recorded but not finished (state `recorded` or
    /// `started`), oldest first: what a restart must still handle.
    async fn pending_inbound(&self, platform: &str) -> Result<Vec<InboundRow>, StoreError>;

    /// The inbound message `id`, if any.
    async fn inbound(&self, id: i64) -> Result<Option<InboundRow>, StoreError>;

    /// The turn for message `id` began and the user's message is in the transcript of
    /// `session_id`. Starting it again (a resume) moves it to `session_id`; starting a
    /// finished message is [`StoreError::InvalidInput`], an unknown one
    /// [`StoreError::InboundNotFound`].
    async fn start_inbound(&self, id: i64, session_id: &str) -> Result<(), StoreError>;

    /// Message `id` is done, with `outcome` (`answered`, `dropped`, ...). Finishing it
    /// again keeps the first outcome.
    async fn finish_inbound(&self, id: i64, outcome: &str) -> Result<(), StoreError>;

    /// [`Store::open_turn`] and [`Store::start_inbound`]`(inbound_id, session.id)` in
    /// one write: the user's message enters the transcript exactly when its inbound
    /// row becomes `started`, so a crash cannot leave it in the transcript while the
    /// row still says `recorded` (which a resume would append a second time). An
    /// unknown or finished inbound message fails the whole write.
    async fn open_inbound_turn(
        &self,
        inbound_id: i64,
        session: NewSession,
        messages: Vec<NewMessage>,
    ) -> Result<OpenedTurn, StoreError>;

    /// Deletes finished inbound messages finished before `before`, and outbox rows that
    /// reached a final state (sent, failed, unknown) before it. A pruned message is no
    /// longer recognised as a duplicate, so `before` must lie well past any window in
    /// which a platform could deliver it again.
    async fn prune_gateway_log(&self, before: TimestampMs) -> Result<GatewayPruned, StoreError>;

    // ----- The outbox -----

    /// Queues `items` (ids returned in order) and, when `finish_inbound` is given,
    /// finishes that inbound message with that outcome, in one transaction: "answer
    /// queued" and "message done" commit together or not at all. An invalid item, or an
    /// unknown inbound id, queues nothing.
    async fn enqueue_outbound(
        &self,
        items: Vec<NewOutbound>,
        finish_inbound: Option<(i64, String)>,
    ) -> Result<Vec<i64>, StoreError>;

    /// At most `limit` pending sends of one platform account that are due at `now`,
    /// in the order they were queued.
    async fn due_outbound(
        &self,
        platform: &str,
        account: Option<&str>,
        now: TimestampMs,
        limit: u32,
    ) -> Result<Vec<OutboundRow>, StoreError>;

    /// The outbox row `id`, if any.
    async fn outbound(&self, id: i64) -> Result<Option<OutboundRow>, StoreError>;

    /// Claims pending send `id` before sending it: `in_flight`, attempts + 1, durable
    /// when this resolves. `None` when the row is not pending (already claimed or done);
    /// an unknown id is [`StoreError::OutboundNotFound`].
    async fn claim_outbound(&self, id: i64) -> Result<Option<OutboundRow>, StoreError>;

    /// The claimed send `id` reached the platform, which gave it `platform_message_id`.
    /// A row not in flight is [`StoreError::WrongOutboundState`].
    async fn complete_outbound(&self, id: i64, platform_message_id: Option<&str>) -> Result<(), StoreError>;

    /// The claimed send `id` failed for now and is due again at `at`.
    async fn retry_outbound(&self, id: i64, error: &str, at: TimestampMs) -> Result<(), StoreError>;

    /// Gives up on send `id` (pending or in flight) for good.
    async fn fail_outbound(&self, id: i64, error: &str) -> Result<(), StoreError>;

    /// At startup, before sending anything: sends of this platform account left
    /// `in_flight` by a crash become `unknown` and are never sent again (at most once:
    /// a reply that may have arrived is not risked twice). Returns them.
    async fn abandon_in_flight(&self, platform: &str, account: Option<&str>) -> Result<Vec<OutboundRow>, StoreError>;

    // ----- Adapter state -----

    /// The value under `key` in `namespace` (the gateway's per platform account).
    async fn state_get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key` in `namespace`, replacing the previous value.
    async fn state_put(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError>;

    // ----- Pairing (Hermes's `gateway/pairing.py`, reference §4.3) -----

    /// An unknown user of `platform` asks for a pairing code at `now`. See
    /// [`PairingRequest`] for the answers; only the code's salted hash is stored.
    async fn pairing_request(
        &self,
        platform: &str,
        user_id: &str,
        user_name: Option<&str>,
        now: TimestampMs,
    ) -> Result<PairingRequest, StoreError>;

    /// Approves `code` (case and surrounding whitespace ignored) on `platform` at `now`
    /// and returns the user it was issued to. `None` when no live code matches (which
    /// counts towards the lockout: 5 in a row lock the platform for an hour) or while
    /// the platform is locked out ([`Store::pairing_is_locked_out`] tells which).
    async fn pairing_approve(
        &self,
        platform: &str,
        code: &str,
        now: TimestampMs,
    ) -> Result<Option<ApprovedUser>, StoreError>;

    /// Whether approvals on `platform` are refused at `now` after too many wrong codes.
    async fn pairing_is_locked_out(&self, platform: &str, now: TimestampMs) -> Result<bool, StoreError>;

    /// Whether `user_id` was approved on `platform` (and not revoked).
    async fn pairing_is_approved(&self, platform: &str, user_id: &str) -> Result<bool, StoreError>;

    /// The live codes at `now` (never the codes themselves) and the approved users.
    async fn pairing_list(&self, now: TimestampMs) -> Result<PairingList, StoreError>;

    /// Removes an approved user; `false` when there was none.
    async fn pairing_revoke(&self, platform: &str, user_id: &str) -> Result<bool, StoreError>;

    /// Deletes every pending code on every platform; returns how many there were.
    async fn pairing_clear_pending(&self) -> Result<u64, StoreError>;
}

/// Whether `id` may be used as a session id: not empty, at most [`MAX_SESSION_ID_LEN`]
/// characters, no control characters, and nothing that could escape a directory when
/// the id becomes a file name (Hermes's `_is_path_unsafe`).
pub fn check_session_id(id: &str) -> Result<(), StoreError> {
    if id.trim().is_empty() {
        return Err(StoreError::InvalidInput("a session id cannot be empty".into()));
    }
    let length = id.chars().count();
    if length > MAX_SESSION_ID_LEN {
        return Err(StoreError::InvalidInput(format!(
            "a session id may have at most {MAX_SESSION_ID_LEN} characters, this one has {length}"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput("a session id cannot contain control characters".into()));
    }
    if is_path_unsafe(id) {
        return Err(StoreError::InvalidInput(format!(
            "`{id}` is not a usable session id: it may not contain `/`, `\\`, `..` or start with a drive letter"
        )));
    }
    Ok(())
}
