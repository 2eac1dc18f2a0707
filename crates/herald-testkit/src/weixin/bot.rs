//! The bot endpoints besides media: `getupdates`, `sendmessage`, `getconfig`,
//! `sendtyping`, `msg/notifystart`, `msg/notifystop` (§B.4-B.8). Headers and
//! `base_info` were checked by the router.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::checks::{Refusal, string_field, uint_field};
use super::media;
use super::server::Reply;
use super::state::{Shared, State};
use super::types::SentMessage;

const CURSOR_PREFIX: &str = "fakewx-cursor:";

/// The opaque `get_updates_buf` after message `seq` (base64, like the real ones).
pub fn cursor(seq: usize) -> String {
    STANDARD.encode(format!("{CURSOR_PREFIX}{seq}"))
}

/// The `seq` a cursor stands for; `""` (first poll) is 0.
pub fn parse_cursor(buf: &str, inbox_len: usize) -> Result<usize, Refusal> {
    if buf.is_empty() {
        return Ok(0);
    }
    let bad = || Refusal::Violation("get_updates_buf is not one this server issued".into());
    let text = String::from_utf8(STANDARD.decode(buf).map_err(|_| bad())?).map_err(|_| bad())?;
    let seq: usize = text.strip_prefix(CURSOR_PREFIX).and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    if seq > inbox_len {
        return Err(bad());
    }
    Ok(seq)
}

struct Waiting<'a>(&'a Shared);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.waiting_polls = s.waiting_polls.saturating_sub(1));
    }
}

/// Messages after the cursor, or (held up to `poll_hold_ms`) none and the same cursor.
pub async fn get_updates(shared: &Shared, body: &Value) -> Reply {
    // `sync_buf` is the deprecated name of the same field.
    let buf = match body.get("get_updates_buf").or_else(|| body.get("sync_buf")) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Reply::violation("get_updates_buf is not a string"),
        None => return Reply::violation("get_updates_buf is missing (send \"\" the first time)"),
    };
    let (start, config) = {
        let s = shared.lock();
        match parse_cursor(&buf, s.inbox.len()) {
            Ok(seq) => (seq, s.config.clone()),
            Err(r) => return Reply::refusal(r),
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(config.poll_hold_ms);
    shared.update(|s| s.waiting_polls += 1);
    // A guard, so a poll whose client hung up (the future is dropped) is not counted.
    let _waiting = Waiting(shared);
    let answer = |msgs: Vec<Value>, next: String| {
        Reply::json(&json!({
            "ret": 0,
            "msgs": msgs,
            "get_updates_buf": next,
            "longpolling_timeout_ms": config.longpolling_timeout_ms,
        }))
    };
    loop {
        // Registered before looking, so a change between the look and the wait wakes it.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        // Looked at under the plain lock: `update` would wake this very poll.
        let batch = {
            let s = shared.lock();
            (s.inbox.len() > start).then(|| {
                let end = s.inbox.len().min(start + config.batch_limit.max(1));
                (s.inbox[start..end].to_vec(), end)
            })
        };
        let batch = batch.map(|(msgs, end)| {
            shared.update(|s| {
                for m in &msgs {
                    if let (Some(from), Some(token)) =
                        (m["from_user_id"].as_str(), m.get("context_token").and_then(Value::as_str))
                    {
                        s.delivered_tokens.insert(from.to_string(), token.to_string());
                    }
                }
            });
            (msgs, cursor(end))
        });
        if let Some((msgs, next)) = batch {
            return answer(msgs, next);
        }
        if tokio::time::Instant::now() >= deadline {
            return answer(Vec::new(), buf);
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.stop.cancelled() => return answer(Vec::new(), buf),
        }
    }
}

/// What one `item_list` item is.
pub struct ItemSummary {
    pub kind: &'static str,
    pub text: Option<String>,
    pub file_name: Option<String>,
    pub encrypt_query_param: Option<String>,
}

fn check_message(state: &State, msg: &Value, bot_id: &str) -> Result<ItemSummary, Refusal> {
    let v = |why: String| Refusal::Violation(why);
    if !msg.is_object() {
        return Err(v("msg is missing or not an object".into()));
    }
    match msg.get("from_user_id") {
        None => {}
        Some(Value::String(f)) if f.is_empty() || f == bot_id => {}
        Some(other) => return Err(v(format!("msg.from_user_id is {other}, not \"\" (or the bot's id)"))),
    }
    string_field(msg, "msg.", "to_user_id")?;
    let client_id = string_field(msg, "msg.", "client_id")?;
    if state.client_ids.contains(client_id) {
        return Err(v(format!("msg.client_id {client_id:?} was already used; every message needs a new one")));
    }
    for (name, want) in [("message_type", 2), ("message_state", 2)] {
        let got = uint_field(msg, "msg.", name)?;
        if got != want {
            return Err(v(format!("msg.{name} is {got}, a bot's finished message has {want}")));
        }
    }
    let items =
        msg.get("item_list").and_then(Value::as_array).ok_or_else(|| v("msg.item_list is not an array".into()))?;
    if items.len() != 1 {
        return Err(v(format!("msg.item_list has {} items; a message carries exactly one", items.len())));
    }
    let item = &items[0];
    match uint_field(item, "msg.item_list[0].", "type")? {
        1 => {
            let text_item = item.get("text_item").ok_or_else(|| v("a TEXT item (type 1) has no text_item".into()))?;
            let text = string_field(text_item, "text_item.", "text")?;
            Ok(ItemSummary { kind: "text", text: Some(text.to_string()), file_name: None, encrypt_query_param: None })
        }
        t @ 2..=5 => media::check_item(state, item, t, msg["to_user_id"].as_str().unwrap_or_default()),
        t => Err(v(format!("item type {t} is not one a bot sends (1 text, 2 image, 3 voice, 4 file, 5 video)"))),
    }
}

pub fn send_message(shared: &Shared, s: &mut State, body: &Value) -> Reply {
    let msg = body.get("msg").cloned().unwrap_or(Value::Null);
    let summary = match check_message(s, &msg, &shared.id.bot_id) {
        Ok(summary) => summary,
        Err(r) => return Reply::refusal(r),
    };
    let to = msg["to_user_id"].as_str().unwrap_or_default().to_string();
    if s.throttled.contains(&to) {
        return Reply::ret(-2, "");
    }
    let token = match msg.get("context_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(_) => return Reply::violation("msg.context_token is not a non-empty string"),
    };
    match &token {
        // Tencent's session-recovery notes: a stale context token is `-2 prepare failed`.
        Some(t) if s.delivered_tokens.get(&to) != Some(t) => return Reply::ret(-2, "prepare failed"),
        None if s.config.require_context_token => return Reply::ret(-2, "prepare failed"),
        _ => {}
    }
    let client_id = msg["client_id"].as_str().unwrap_or_default().to_string();
    s.client_ids.insert(client_id.clone());
    let message_id = s.allocate_message_id();
    let seq = s.sent.len() as u64 + 1;
    s.sent.push(SentMessage {
        seq,
        message_id: message_id.to_string(),
        client_id,
        to_user_id: to,
        context_token: token,
        kind: summary.kind.to_string(),
        text: summary.text,
        file_name: summary.file_name,
        encrypt_query_param: summary.encrypt_query_param,
        msg,
    });
    Reply::json(&json!({"ret": 0, "message_id": message_id}))
}

pub fn get_config(s: &mut State, body: &Value) -> Reply {
    let user = match string_field(body, "", "ilink_user_id") {
        Ok(u) => u.to_string(),
        Err(r) => return Reply::refusal(r),
    };
    if let Some(t) = body.get("context_token")
        && !t.is_string()
    {
        return Reply::violation("context_token is not a string");
    }
    let ticket = STANDARD.encode(rand::random::<[u8; 24]>());
    s.tickets.insert(ticket.clone(), user);
    Reply::json(&json!({"ret": 0, "typing_ticket": ticket}))
}

pub fn send_typing(s: &mut State, body: &Value) -> Reply {
    let checked = (|| {
        let user = string_field(body, "", "ilink_user_id")?;
        let ticket = string_field(body, "", "typing_ticket")?;
        let status = uint_field(body, "", "status")?;
        if !matches!(status, 1 | 2) {
            return Err(Refusal::Violation(format!("status is {status}: 1 typing, 2 cancel")));
        }
        if s.tickets.get(ticket).map(String::as_str) != Some(user) {
            return Err(Refusal::Violation("typing_ticket was not issued by getconfig for this ilink_user_id".into()));
        }
        Ok((user.to_string(), status as u8))
    })();
    match checked {
        Ok((user, status)) => {
            let seq = s.typing.len() as u64 + 1;
            s.typing.push(super::types::TypingEvent { seq, ilink_user_id: user, status });
            Reply::json(&json!({"ret": 0}))
        }
        Err(r) => Reply::refusal(r),
    }
}

pub fn notify(s: &mut State, start: bool) -> Reply {
    s.notify_started = start;
    Reply::json(&json!({"ret": 0}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(parse_cursor("", 0), Ok(0));
        assert_eq!(parse_cursor(&cursor(3), 5), Ok(3));
        assert!(parse_cursor(&cursor(6), 5).is_err());
        assert!(parse_cursor("garbage", 5).is_err());
        assert!(parse_cursor(&STANDARD.encode("other:1"), 5).is_err());
    }
}
