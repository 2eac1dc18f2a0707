//! One turn for one message: the agent runs, the answer streams to the chat, and the
//! inbound message is finished in the same write that queues the final answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use herald_agent::{Steering, TurnError, TurnEvent};
use herald_core::{Inbound, Target};
use herald_store::NewSession;
use tokio_util::sync::CancellationToken;

use super::replies::{Origin, Replies};
use super::{Shared, context, finish};
use crate::conversation::InboundTurn;

/// How a turn ended, for the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Answered,
    /// Stopped by `/stop` or interrupted by a new message.
    Stopped,
    /// Stopped by the shutdown; the message stays unfinished and is resumed.
    Shutdown,
    Failed,
}

/// What the actor learns from a finished turn.
pub struct TurnDone {
    pub ended: Ended,
}

/// Everything a turn task needs.
pub struct TurnJob {
    pub inbound_id: i64,
    pub inbound: Inbound,
    pub session: NewSession,
    pub note: Option<String>,
    pub resume: bool,
    pub reasoning: Option<herald_agent::ReasoningEffort>,
    pub steer: Steering,
    pub cancel: CancellationToken,
    /// Set by the actor before it cancels for `/stop` or an interrupt, so the turn can
    /// tell the user's stop from the gateway's.
    pub stopped_by_user: Arc<AtomicBool>,
}

/// The text the model gets: the message and what came with it (files are already in
/// the local cache; the model sees their paths).
pub fn user_text(inbound: &Inbound) -> String {
    let mut text = inbound.text.clone();
    for media in &inbound.media {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!("[The user sent a {}: {}", media.kind.as_str(), media.path.display()));
        if let Some(name) = &media.file_name {
            text.push_str(&format!(" (named {name:?})"));
        }
        if let Some(transcript) = &media.transcript {
            text.push_str(&format!("; transcript: {transcript:?}"));
        }
        text.push(']');
    }
    text
}

/// Where the answer to `inbound` goes: its chat and thread, as a reply to it.
pub fn target_of(inbound: &Inbound) -> Option<Target> {
    let mut target = Target::for_source(&inbound.source)?;
    target.reply_to = inbound.message_id.clone();
    Some(target)
}

/// Sends `text` to the sender of `inbound` and finishes the message with `outcome`, in
/// one write.
pub async fn reply_and_finish(shared: &Shared, inbound: &Inbound, text: &str, inbound_id: i64, outcome: &str) {
    let platform = inbound.source.platform.as_str();
    let (Some(replies), Some(target)) = (shared.replies(platform), target_of(inbound)) else {
        tracing::warn!(platform, inbound_id, "no way to reply to this message");
        finish(shared, inbound_id, "undeliverable").await;
        return;
    };
    let origin = Origin::default().finishing(inbound_id, outcome);
    if let Err(error) = replies.send_text(&target, text, origin).await {
        tracing::error!(%error, inbound_id, "cannot queue a reply");
    }
}

/// How often the typing indicator is renewed during a turn.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the turn; never panics on the model's or platform's failures.
pub async fn run(shared: Arc<Shared>, job: TurnJob) -> TurnDone {
    let platform = job.inbound.source.platform.as_str().to_string();
    let (Some(replies), Some(target)) = (shared.replies(&platform), target_of(&job.inbound)) else {
        tracing::warn!(platform, inbound_id = job.inbound_id, "no way to reply to this message");
        finish(&shared, job.inbound_id, "undeliverable").await;
        return TurnDone { ended: Ended::Failed };
    };
    let session_id = job.session.id.clone().unwrap_or_default();
    // Best effort and off the turn's path: the model is called without waiting for it.
    // Renewed while the turn runs, since platforms drop the indicator after a few
    // seconds (Telegram after 5 s; WeChat's client re-sends it every 5 s); it stops
    // when the guard drops with the turn.
    let typing_stop = CancellationToken::new();
    let _typing = typing_stop.clone().drop_guard();
    let (typing_replies, typing_target) = (replies.clone(), target.clone());
    tokio::spawn(async move {
        loop {
            typing_replies.typing(&typing_target).await;
            tokio::select! {
                _ = typing_stop.cancelled() => return,
                _ = tokio::time::sleep(TYPING_EVERY) => {}
            }
        }
    });
    let streaming = shared.config.streaming.enabled && shared.config.streaming.transport != "off";
    let mut stream = streaming.then(|| replies.stream(&target, &session_id));
    let text = user_text(&job.inbound);
    let context = context::session_context(&job.inbound, &session_id, &shared.time_zone, job.note.as_deref());
    let mut streamed = String::new();
    let mut on_event = |event: TurnEvent| {
        if let TurnEvent::TextDelta(delta) = event {
            streamed.push_str(&delta);
            if let Some(stream) = stream.as_mut() {
                stream.push_delta(&delta);
            }
        }
    };
    let report = shared
        .conversations
        .run_inbound_turn(
            InboundTurn {
                session: job.session.clone(),
                inbound_id: job.inbound_id,
                text: &text,
                context: &context,
                resume: job.resume,
                steer: Some(job.steer.clone()),
                reasoning: job.reasoning,
                shutdown: shared.shutdown.clone(),
            },
            &mut on_event,
            job.cancel.clone(),
        )
        .await;

    let origin = Origin::session(&session_id);
    let (ended, answer, outcome) = match report {
        Err(error) => {
            tracing::error!(%error, inbound_id = job.inbound_id, "the turn could not run");
            (Ended::Failed, format!("⚠️ The message could not be handled: {error}"), "failed")
        }
        Ok(report) => match report.result {
            Ok(answer) => (Ended::Answered, answer, "answered"),
            Err(TurnError::Cancelled) if !job.stopped_by_user.load(Ordering::SeqCst) => {
                if let Some(stream) = stream {
                    stream.abandon().await;
                }
                return TurnDone { ended: Ended::Shutdown };
            }
            // What was streamed stays as the (partial) answer.
            Err(TurnError::Cancelled) => (Ended::Stopped, streamed.clone(), "stopped"),
            Err(TurnError::Provider(error)) => {
                tracing::warn!(%error, inbound_id = job.inbound_id, "the model failed");
                (Ended::Failed, format!("⚠️ The model could not answer: {error}"), "failed")
            }
        },
    };
    let origin = origin.finishing(job.inbound_id, outcome);
    let delivered = match stream {
        Some(stream) => stream.finish(&answer, origin).await,
        None if answer.trim().is_empty() => {
            finish(&shared, job.inbound_id, outcome).await;
            Ok(())
        }
        None => replies.send_text(&target, &answer, origin).await,
    };
    if let Err(error) = delivered {
        tracing::error!(%error, inbound_id = job.inbound_id, "cannot queue the answer");
    }
    if job.resume
        && let Some(key) = &job.session.key
    {
        super::resume::resumed_turn_ended(&shared, key, &session_id, ended == Ended::Answered).await;
    }
    TurnDone { ended }
}

/// Sends a notice (a reset, an acknowledgement) without finishing any message.
pub async fn notify(replies: &Arc<dyn Replies>, inbound: &Inbound, session_id: Option<&str>, text: &str) {
    let Some(mut target) = target_of(inbound) else { return };
    target.reply_to = None;
    let origin = Origin { session_id: session_id.map(str::to_string), ..Origin::default() };
    if let Err(error) = replies.send_text(&target, text, origin).await {
        tracing::warn!(%error, "cannot queue a notice");
    }
}
