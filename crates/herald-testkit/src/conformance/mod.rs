//! The adapter conformance suite: the contract of herald-core's adapter seam, checked
//! against any adapter and the fake server of its platform.
//!
//! A platform's test builds its adapter pointed at its fake server, implements
//! [`ConformanceHarness`] for that server (the Telegram one is
//! [`crate::telegram::TelegramHarness`]), and runs [`run_all`]:
//!
//! ```ignore
//! let report = conformance::run_all(adapter, &harness).await;
//! assert!(report.failed.is_empty(), "{report}");
//! ```
//!
//! What is checked (each check uses its own chat, so flood control of one does not
//! spill into the next):
//! - an injected direct and group message reaches the sink with the right
//!   [`Source`](herald_core::Source), text and message id, and `connected` is called;
//! - a delivery answered `NotRecorded` does not advance the cursor: the same message
//!   comes again, and once recorded it does not;
//! - `Send` returns a message id and the text arrives intact; Markdown with
//!   characters formatting syntax reserves is accepted without a plain-text fallback;
//! - `Edit` changes the text in place, an identical edit is `NotModified`, an edit of a
//!   message that does not exist is `MessageGone`; `Delete` removes; both are
//!   `Unsupported` exactly when the capabilities say so;
//! - a text of exactly `max_message_len` (in the declared unit) goes out whole; one unit
//!   more is `TooLong` or arrives split into parts within the limit;
//! - platform flood control comes back as `RateLimited` with a `retry_after`;
//! - `Typing`, `Draft` (direct chats) and `SendMedia` work when declared and are
//!   `Unsupported` when not.

mod inbound;
mod outbound;
mod runner;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::{Adapter, ChatType};

pub use runner::{Running, TestSink};

/// How long a check waits for something the adapter should do. Generous: it bounds a
/// failing check, it does not measure speed.
pub const WAIT: Duration = Duration::from_secs(20);

/// What the adapter must report for an injected message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub chat_id: String,
    pub chat_type: ChatType,
    pub user_id: String,
    /// The display name, when the platform gives one.
    pub user_name: Option<String>,
    pub message_id: String,
    pub text: String,
}

/// A message the bot has in a chat now, as the fake server shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    pub message_id: String,
    /// The visible text (after the platform parsed any formatting), or a caption.
    pub text: String,
    /// `text`, or the media kind (`photo`, `document`, `voice`, ...).
    pub kind: String,
}

/// What a fake server lets the suite do. Users and groups are small numbers the
/// harness maps to its platform's ids; the same number is the same user every time.
#[async_trait]
pub trait ConformanceHarness: Send + Sync {
    /// Makes the direct chat with `user` exist so the bot may write there; returns the
    /// chat id as the adapter's `Target` names it.
    async fn open_dm(&self, user: u32) -> String;

    /// `user` sends `text` in their direct chat with the bot.
    async fn inject_dm_text(&self, user: u32, text: &str) -> Expected;

    /// `user` sends `text` in group `group`; `None` when the platform has no groups.
    async fn inject_group_text(&self, group: u32, user: u32, text: &str) -> Option<Expected>;

    /// The bot's live (not deleted) messages in a chat, oldest first.
    async fn sent(&self, chat_id: &str) -> Vec<SentRecord>;

    /// Whether a typing indicator was shown in the chat.
    async fn typing_seen(&self, chat_id: &str) -> bool;

    /// The texts of native drafts shown in the chat, oldest first.
    async fn drafts(&self, chat_id: &str) -> Vec<String>;

    /// From now on the platform's flood control refuses sends to this chat.
    async fn throttle(&self, chat_id: &str);

    /// Ends [`throttle`](Self::throttle).
    async fn release(&self, chat_id: &str);
}

/// The outcome of [`run_all`].
#[derive(Debug, Default)]
pub struct Report {
    pub passed: Vec<&'static str>,
    pub failed: Vec<(&'static str, String)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} conformance checks passed, {} failed", self.passed.len(), self.failed.len())?;
        for (name, why) in &self.failed {
            writeln!(f, "FAILED {name}: {why}")?;
        }
        Ok(())
    }
}

/// A check's verdict: `Err` says what was wrong.
pub type Verdict = Result<(), String>;

/// Fails a check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}
pub(crate) use ensure;

/// Runs every check, one after another (an adapter may allow one listener at a time).
pub async fn run_all(adapter: Arc<dyn Adapter>, harness: &dyn ConformanceHarness) -> Report {
    let mut report = Report::default();
    let mut record = |name: &'static str, verdict: Verdict| match verdict {
        Ok(()) => report.passed.push(name),
        Err(why) => report.failed.push((name, why)),
    };
    let a = &adapter;
    record("inbound_direct_message", inbound::direct_message(a, harness).await);
    record("inbound_group_message", inbound::group_message(a, harness).await);
    record("not_recorded_is_delivered_again", inbound::not_recorded_is_redelivered(a, harness).await);
    record("send_plain_text", outbound::send_plain(a, harness).await);
    record("send_markdown", outbound::send_markdown(a, harness).await);
    record("edit", outbound::edit(a, harness).await);
    record("delete", outbound::delete(a, harness).await);
    record("length_limit", outbound::length_limit(a, harness).await);
    record("rate_limited", outbound::rate_limited(a, harness).await);
    record("typing", outbound::typing(a, harness).await);
    record("draft", outbound::draft(a, harness).await);
    record("media", outbound::media(a, harness).await);
    report
}
