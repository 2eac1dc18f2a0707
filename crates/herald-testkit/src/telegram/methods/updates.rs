//! Receiving updates: `getUpdates` long polling and the webhook settings.

use std::time::Duration;

use serde_json::{Value, json};

use super::Done;
use crate::telegram::params::{ApiErr, Params};
use crate::telegram::state::{Shared, State};
use crate::telegram::types::WebhookInfo;

/// Update kinds Telegram leaves out unless `allowed_updates` names them.
const OPT_IN: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// The longest `timeout` honoured; Telegram's own servers cap long polls similarly.
const MAX_POLL: Duration = Duration::from_secs(50);

fn conflict_webhook() -> ApiErr {
    ApiErr::new(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    )
}

fn conflict_poller() -> ApiErr {
    ApiErr::new(
        409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    )
}

/// The kind of an update: its one key besides `update_id`.
fn kind(update: &Value) -> Option<&str> {
    update.as_object()?.keys().map(String::as_str).find(|k| *k != "update_id")
}

fn allowed(state: &State, update: &Value) -> bool {
    let Some(k) = kind(update) else { return true };
    match &state.allowed_updates {
        Some(list) if !list.is_empty() => list.iter().any(|a| a == k),
        _ => !OPT_IN.contains(&k),
    }
}

/// Drops the updates an `offset` confirms: every id below a positive offset, or all but
/// the last `-offset` for a negative one.
fn confirm(state: &mut State, offset: i64) {
    if offset > 0 {
        state.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
    } else if offset < 0 {
        let keep = offset.unsigned_abs() as usize;
        while state.updates.len() > keep {
            state.updates.pop_front();
        }
    }
}

fn allowed_list(params: &Params) -> Result<Option<Vec<String>>, ApiErr> {
    match params.json("allowed_updates", "allowed updates")? {
        None => Ok(None),
        Some(v) => {
            serde_json::from_value(v).map(Some).map_err(|_| ApiErr::bad("can't parse allowed updates JSON object"))
        }
    }
}

pub async fn get_updates(shared: &Shared, params: &Params) -> Result<Value, ApiErr> {
    let offset = params.int("offset")?;
    let limit = params.int("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(params.int("timeout")?.unwrap_or(0).max(0) as u64).min(MAX_POLL);
    let allowed_updates = allowed_list(params)?;
    let generation = shared.update(|s| {
        if s.webhook.is_some() {
            return Err(conflict_webhook());
        }
        if let Some(o) = offset {
            confirm(s, o);
        }
        if allowed_updates.is_some() {
            s.allowed_updates = allowed_updates;
        }
        s.poll_generation += 1;
        Ok(s.poll_generation)
    })?;
    let deadline = tokio::time::Instant::now() + timeout;
    shared.update(|s| s.waiting_polls += 1);
    // A guard, so a poll whose client hung up (the future is dropped) is not counted.
    let _waiting = Waiting(shared);
    poll(shared, generation, limit, deadline).await
}

struct Waiting<'a>(&'a Shared);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.waiting_polls = s.waiting_polls.saturating_sub(1));
    }
}

async fn poll(shared: &Shared, generation: u64, limit: usize, deadline: tokio::time::Instant) -> Result<Value, ApiErr> {
    loop {
        // Registered before looking, so a change between the look and the wait wakes it.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        {
            let s = shared.lock();
            if s.poll_generation != generation {
                return Err(conflict_poller());
            }
            if s.webhook.is_some() {
                return Err(conflict_webhook());
            }
            let batch: Vec<Value> = s.updates.iter().filter(|u| allowed(&s, u)).take(limit).cloned().collect();
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Value::Array(batch));
            }
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.stop.cancelled() => return Ok(json!([])),
        }
    }
}

fn local_http(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost")
}

pub fn set_webhook(shared: &Shared, params: &Params) -> Result<Done, ApiErr> {
    let url = params.str("url").unwrap_or_default();
    if url.is_empty() {
        return delete_webhook(shared, params);
    }
    // Telegram requires HTTPS; a loopback http:// URL is let through because tests run
    // the bot's webhook listener on 127.0.0.1 without a certificate.
    if !url.starts_with("https://") && !local_http(&url) {
        return Err(ApiErr::bad("bad webhook: An HTTPS URL must be provided for webhook"));
    }
    let secret_token = params.str("secret_token").filter(|s| !s.is_empty());
    if let Some(s) = &secret_token {
        let ok = (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ApiErr::bad("secret token contains unallowed characters"));
        }
    }
    let allowed_updates = allowed_list(params)?;
    let max_connections = params.int("max_connections")?;
    let drop_pending = params.bool("drop_pending_updates");
    shared.update(|s| {
        if drop_pending {
            s.updates.clear();
        }
        if allowed_updates.is_some() {
            s.allowed_updates = allowed_updates.clone();
        }
        s.webhook = Some(WebhookInfo { url, secret_token, allowed_updates, max_connections });
    });
    Ok(Done { result: json!(true), description: Some("Webhook was set") })
}

pub fn delete_webhook(shared: &Shared, params: &Params) -> Result<Done, ApiErr> {
    let drop_pending = params.bool("drop_pending_updates");
    let had = shared.update(|s| {
        if drop_pending {
            s.updates.clear();
        }
        s.webhook.take().is_some()
    });
    let description = if had { "Webhook was deleted" } else { "Webhook is already deleted" };
    Ok(Done { result: json!(true), description: Some(description) })
}

pub fn webhook_info(shared: &Shared) -> Result<Value, ApiErr> {
    let s = shared.lock();
    let pending = s.updates.iter().filter(|u| allowed(&s, u)).count();
    let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": pending});
    if let Some(w) = &s.webhook {
        info["url"] = json!(w.url);
        info["max_connections"] = json!(w.max_connections.unwrap_or(40));
        info["ip_address"] = json!("127.0.0.1");
        if let Some(a) = &w.allowed_updates {
            info["allowed_updates"] = json!(a);
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_confirm_like_telegram() {
        let mut s = State::default();
        for _ in 0..5 {
            s.push_update(json!({"message": {}}));
        }
        let ids = |s: &State| s.updates.iter().map(|u| u["update_id"].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(&s), vec![0, 1, 2, 3, 4]);
        confirm(&mut s, 2);
        assert_eq!(ids(&s), vec![2, 3, 4]);
        confirm(&mut s, -1);
        assert_eq!(ids(&s), vec![4]);
        confirm(&mut s, 0);
        assert_eq!(ids(&s), vec![4]);
    }

    #[test]
    fn opt_in_kinds_need_allowed_updates() {
        let mut s = State::default();
        assert!(!allowed(&s, &json!({"update_id": 1, "message_reaction": {}})));
        assert!(allowed(&s, &json!({"update_id": 1, "edited_message": {}})));
        s.allowed_updates = Some(vec!["message".into()]);
        assert!(!allowed(&s, &json!({"update_id": 1, "edited_message": {}})));
        assert!(allowed(&s, &json!({"update_id": 1, "message": {}})));
    }
}
