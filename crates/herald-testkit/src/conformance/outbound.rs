//! Outbound checks: every [`OutboundOp`] against what the fake server shows, and the
//! capabilities' truthfulness.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald_core::{Adapter, ChatType, LengthUnit, MediaKind, OutboundOp, SendError, Sent, Target, TextFormat};

use super::{ConformanceHarness, SentRecord, Verdict, ensure};

fn dm(chat_id: String) -> Target {
    Target { chat_id, chat_type: Some(ChatType::Dm), thread_id: None, reply_to: None }
}

fn text_op(text: &str, format: TextFormat) -> OutboundOp {
    OutboundOp::Send { text: text.to_string(), format }
}

async fn send(adapter: &Arc<dyn Adapter>, target: &Target, op: OutboundOp) -> Result<Sent, SendError> {
    adapter.send(target, &op).await
}

/// Sends and insists on success with a message id.
async fn send_ok(
    adapter: &Arc<dyn Adapter>,
    target: &Target,
    text: &str,
    format: TextFormat,
) -> Result<(Sent, String), String> {
    let sent =
        send(adapter, target, text_op(text, format)).await.map_err(|e| format!("sending {text:?} failed: {e}"))?;
    let id = sent.message_id.clone().ok_or_else(|| format!("sending {text:?} returned no message id"))?;
    Ok((sent, id))
}

fn find<'a>(records: &'a [SentRecord], id: &str) -> Option<&'a SentRecord> {
    records.iter().find(|r| r.message_id == id)
}

fn unsupported(op: &str, result: Result<Sent, SendError>) -> Verdict {
    match result {
        Err(SendError::Unsupported(_)) => Ok(()),
        other => Err(format!("the capabilities declare no {op}, but it answered {other:?} instead of Unsupported")),
    }
}

pub async fn send_plain(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(10).await);
    let text = "plain text with *stars*, _underscores_ and 1.5 (ok)!";
    let (sent, id) = send_ok(adapter, &target, text, TextFormat::Plain).await?;
    ensure!(!sent.fell_back_to_plain, "a plain text reported a formatting fallback");
    let records = h.sent(&target.chat_id).await;
    let got = find(&records, &id).ok_or_else(|| format!("message {id} is not in the chat: {records:?}"))?;
    ensure!(got.text == text, "the chat shows {:?}, sent {text:?}", got.text);
    Ok(())
}

pub async fn send_markdown(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(11).await);
    let text = "Some **bold** words, a `code_span`, and 1.5 + 2 = 3.5 (ok)! [a link](https://example.com/a_b)";
    let (sent, id) = send_ok(adapter, &target, text, TextFormat::Markdown).await?;
    ensure!(
        !sent.fell_back_to_plain,
        "the platform refused the adapter's formatting of {text:?}, so it fell back to plain text"
    );
    let records = h.sent(&target.chat_id).await;
    let got = find(&records, &id).ok_or_else(|| format!("message {id} is not in the chat: {records:?}"))?;
    for part in ["bold", "code_span", "1.5 + 2 = 3.5 (ok)!", "a link"] {
        ensure!(got.text.contains(part), "the chat shows {:?}, which lacks {part:?}", got.text);
    }
    Ok(())
}

pub async fn edit(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(12).await);
    let (_, id) = send_ok(adapter, &target, "edit me: v1", TextFormat::Plain).await?;
    let edit =
        |text: &str| OutboundOp::Edit { message_id: id.clone(), text: text.to_string(), format: TextFormat::Plain };
    if !adapter.capabilities().edit {
        return unsupported("edit", send(adapter, &target, edit("edit me: v2")).await);
    }
    let sent = send(adapter, &target, edit("edit me: v2")).await.map_err(|e| format!("the edit failed: {e}"))?;
    if let Some(edited) = &sent.message_id {
        ensure!(*edited == id, "the edit reported message {edited}, the edited one is {id}");
    }
    let records = h.sent(&target.chat_id).await;
    ensure!(records.len() == 1, "an edit must change the message in place; the chat has {records:?}");
    ensure!(records[0].message_id == id && records[0].text == "edit me: v2", "after the edit the chat has {records:?}");
    match send(adapter, &target, edit("edit me: v2")).await {
        Err(SendError::NotModified) => {}
        other => return Err(format!("an identical edit answered {other:?} instead of NotModified")),
    }
    let missing = OutboundOp::Edit { message_id: "999999".into(), text: "nobody".into(), format: TextFormat::Plain };
    match send(adapter, &target, missing).await {
        Err(SendError::MessageGone(_)) => Ok(()),
        other => Err(format!("editing a message that does not exist answered {other:?} instead of MessageGone")),
    }
}

pub async fn delete(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(13).await);
    let (_, id) = send_ok(adapter, &target, "delete me", TextFormat::Plain).await?;
    let op = OutboundOp::Delete { message_id: id.clone() };
    if !adapter.capabilities().delete {
        return unsupported("delete", send(adapter, &target, op).await);
    }
    send(adapter, &target, op.clone()).await.map_err(|e| format!("the delete failed: {e}"))?;
    let records = h.sent(&target.chat_id).await;
    ensure!(find(&records, &id).is_none(), "message {id} is still in the chat after the delete: {records:?}");
    match send(adapter, &target, op).await {
        Err(SendError::MessageGone(_)) => Ok(()),
        other => Err(format!("deleting a deleted message answered {other:?} instead of MessageGone")),
    }
}

/// A text exactly `len` long in `unit`, made of characters whose size differs between
/// the units so that counting in the wrong one shows.
fn text_of_len(unit: LengthUnit, len: usize) -> String {
    let wide = "😀"; // 1 char, 2 UTF-16 units, 4 bytes
    let mut s = String::new();
    while unit.len(&s) + unit.len(wide) <= len {
        s.push_str(wide);
    }
    while unit.len(&s) < len {
        s.push('a');
    }
    s
}

pub async fn length_limit(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let caps = adapter.capabilities();
    let target = dm(h.open_dm(14).await);
    let exact = text_of_len(caps.length_unit, caps.max_message_len);
    let (_, id) = send_ok(adapter, &target, &exact, TextFormat::Plain).await.map_err(|e| {
        format!("a text of exactly max_message_len ({} {:?}) was refused: {e}", caps.max_message_len, caps.length_unit)
    })?;
    let records = h.sent(&target.chat_id).await;
    let got = find(&records, &id).ok_or_else(|| format!("message {id} is not in the chat"))?;
    ensure!(
        got.text == exact,
        "a text of exactly the limit arrived changed ({} units)",
        caps.length_unit.len(&got.text)
    );
    let before = records.len();
    let over = format!("{exact}a");
    match send(adapter, &target, text_op(&over, TextFormat::Plain)).await {
        Err(SendError::TooLong(_)) => {
            ensure!(
                h.sent(&target.chat_id).await.len() == before,
                "a text refused as TooLong still put messages in the chat"
            );
            Ok(())
        }
        Ok(_) => {
            let parts: Vec<SentRecord> = h.sent(&target.chat_id).await.into_iter().skip(before).collect();
            ensure!(
                parts.len() >= 2,
                "a text over the limit was sent as {} message(s) instead of TooLong or a split",
                parts.len()
            );
            for p in &parts {
                ensure!(caps.length_unit.len(&p.text) <= caps.max_message_len, "a split part is over the limit");
            }
            let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
            ensure!(joined == over, "the split parts do not add up to the text");
            Ok(())
        }
        Err(e) => Err(format!("a text one unit over the limit answered {e:?} instead of TooLong or a split")),
    }
}

pub async fn rate_limited(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(15).await);
    h.throttle(&target.chat_id).await;
    let result = send(adapter, &target, text_op("flooding", TextFormat::Plain)).await;
    h.release(&target.chat_id).await;
    match result {
        Err(SendError::RateLimited { retry_after }) => {
            ensure!(
                retry_after >= Duration::from_secs(1),
                "retry_after is {retry_after:?}; the platform said at least 1 s"
            );
        }
        other => return Err(format!("a send refused by flood control answered {other:?} instead of RateLimited")),
    }
    send_ok(adapter, &target, "after the flood", TextFormat::Plain).await.map(|_| ())
}

pub async fn typing(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(16).await);
    let result = send(adapter, &target, OutboundOp::Typing).await;
    if !adapter.capabilities().typing {
        return unsupported("typing", result);
    }
    result.map_err(|e| format!("Typing failed: {e}"))?;
    ensure!(h.typing_seen(&target.chat_id).await, "Typing succeeded but the chat shows no typing indicator");
    Ok(())
}

pub async fn draft(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(17).await);
    let text = "drafting 1.5 (ok)!";
    let result = send(adapter, &target, OutboundOp::Draft { draft_id: 42, text: text.into() }).await;
    if !adapter.capabilities().draft_in_dm {
        return unsupported("draft", result);
    }
    result.map_err(|e| format!("a draft in a direct chat failed: {e}"))?;
    let drafts = h.drafts(&target.chat_id).await;
    ensure!(drafts.iter().any(|d| d == text), "the chat shows drafts {drafts:?}, sent {text:?}");
    ensure!(h.sent(&target.chat_id).await.is_empty(), "a draft left a message in the chat");
    Ok(())
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn media(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let target = dm(h.open_dm(18).await);
    let path = std::env::temp_dir().join(format!("herald-conformance-{}-{:p}.jpg", std::process::id(), &target));
    std::fs::write(&path, b"\xff\xd8\xff\xe0 not really a jpeg")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let file = TempFile(path.clone());
    let op = OutboundOp::SendMedia { kind: MediaKind::Photo, path, caption: Some("a caption 1.5!".into()) };
    let result = send(adapter, &target, op).await;
    if !adapter.capabilities().media {
        return unsupported("media", result);
    }
    let sent = result.map_err(|e| format!("sending a photo failed: {e}"))?;
    drop(file);
    let records = h.sent(&target.chat_id).await;
    let got = match &sent.message_id {
        Some(id) => find(&records, id).cloned(),
        None => records.last().cloned(),
    };
    let got = got.ok_or_else(|| format!("the photo is not in the chat: {records:?}"))?;
    ensure!(got.kind == "photo", "the chat shows a {} instead of a photo", got.kind);
    ensure!(got.text == "a caption 1.5!", "the photo's caption is {:?}", got.text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_of_a_length_count_in_their_unit() {
        for unit in [LengthUnit::Utf16, LengthUnit::Chars, LengthUnit::Bytes] {
            for len in [0, 1, 5, 4096] {
                assert_eq!(unit.len(&text_of_len(unit, len)), len, "{unit:?} {len}");
            }
        }
        assert!(text_of_len(LengthUnit::Utf16, 4096).contains('😀'));
    }
}
