//! What a message sent while the agent is answering does, and how the user is told.

use std::time::{Duration, Instant};

use herald_core::config::BusyInputMode;

/// Hermes's `_BUSY_QUEUE_MAX_PENDING`: beyond it, new text joins the last queued turn.
pub const MAX_PENDING: usize = 32;

/// Acknowledgements are sent at most this often per session.
pub const ACK_DEBOUNCE: Duration = Duration::from_secs(30);

/// Telegram delivers a photo and its caption, or a long text split in parts, as
/// several messages in quick succession: those are queued, never interrupting.
pub const TELEGRAM_FOLLOW_UP: Duration = Duration::from_secs(3);

/// The acknowledgement for `mode`, with how long the current turn has run.
pub fn ack_text(mode: BusyInputMode, elapsed: Duration) -> String {
    let detail = elapsed_detail(elapsed);
    match mode {
        BusyInputMode::Interrupt => {
            format!("⚡ Interrupting current task ({detail}). I'll respond to your message shortly.")
        }
        BusyInputMode::Queue => {
            format!("⏳ Queued for the next turn ({detail}). I'll respond once the current task finishes.")
        }
        BusyInputMode::Steer => {
            format!("⏩ Steered into current run ({detail}). Your message arrives after the next tool call.")
        }
    }
}

fn elapsed_detail(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs >= 60 { format!("{} min elapsed", secs / 60) } else { format!("{secs} s elapsed") }
}

/// Whether an acknowledgement may go out now, given when the last one did.
pub fn ack_due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|at| now.duration_since(at) >= ACK_DEBOUNCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_use_hermes_words() {
        assert_eq!(
            ack_text(BusyInputMode::Interrupt, Duration::from_secs(5)),
            "⚡ Interrupting current task (5 s elapsed). I'll respond to your message shortly."
        );
        assert_eq!(
            ack_text(BusyInputMode::Queue, Duration::from_secs(125)),
            "⏳ Queued for the next turn (2 min elapsed). I'll respond once the current task finishes."
        );
        assert!(
            ack_text(BusyInputMode::Steer, Duration::ZERO).ends_with("Your message arrives after the next tool call.")
        );
    }

    #[test]
    fn acknowledgements_are_debounced_per_thirty_seconds() {
        let t0 = Instant::now();
        assert!(ack_due(None, t0));
        assert!(!ack_due(Some(t0), t0 + Duration::from_secs(29)));
        assert!(ack_due(Some(t0), t0 + Duration::from_secs(30)));
    }
}
