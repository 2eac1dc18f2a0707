//! What the model is told about where a message came from.

use herald_core::{ChatType, Inbound};
use jiff::tz::TimeZone;

/// The volatile system text of a chat turn: platform, chat, sender, time, and notes
/// such as an automatic reset. Names come from the platform and are shown as data.
pub fn session_context(inbound: &Inbound, session_id: &str, tz: &TimeZone, note: Option<&str>) -> String {
    let source = &inbound.source;
    let chat = match source.chat_type {
        ChatType::Dm => "a direct message".to_string(),
        other => match &source.chat_name {
            Some(name) => format!("a {} chat named {name:?}", other.as_str()),
            None => format!("a {} chat", other.as_str()),
        },
    };
    let sender = match (&source.user_name, &source.user_id) {
        (Some(name), Some(id)) => format!("{name:?} (id {id})"),
        (Some(name), None) => format!("{name:?}"),
        (None, Some(id)) => format!("id {id}"),
        (None, None) => "an unknown sender".to_string(),
    };
    let now = jiff::Timestamp::now().to_zoned(tz.clone());
    let mut text = format!(
        "Platform: {} ({chat})\nFrom: {sender}\nSession id: {session_id}\nCurrent time: {} ({})",
        source.platform.as_str(),
        now.strftime("%Y-%m-%d %H:%M %A"),
        tz.iana_name().unwrap_or("local")
    );
    if let Some(reply) = &inbound.reply_to
        && let Some(quoted) = &reply.text
    {
        text.push_str(&format!("\nThe message replies to: {quoted:?}"));
    }
    if let Some(note) = note {
        text.push('\n');
        text.push_str(note);
    }
    text
}
