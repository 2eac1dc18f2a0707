//! Inbound checks: what an injected message looks like at the sink, and the cursor
//! contract of `NotRecorded`.

use std::sync::Arc;

use herald_core::{Adapter, Inbound};

use super::{ConformanceHarness, Expected, Running, Verdict, WAIT, ensure};

fn matches(adapter: &Arc<dyn Adapter>, got: &Inbound, want: &Expected) -> Verdict {
    let s = &got.source;
    ensure!(
        s.platform == adapter.platform(),
        "source.platform is {:?}, the adapter is {:?}",
        s.platform,
        adapter.platform()
    );
    ensure!(s.chat_type == want.chat_type, "source.chat_type is {:?}, expected {:?}", s.chat_type, want.chat_type);
    ensure!(
        s.chat_id.as_deref() == Some(want.chat_id.as_str()),
        "source.chat_id is {:?}, expected {:?}",
        s.chat_id,
        want.chat_id
    );
    ensure!(
        s.user_id.as_deref() == Some(want.user_id.as_str()),
        "source.user_id is {:?}, expected {:?}",
        s.user_id,
        want.user_id
    );
    if let Some(name) = &want.user_name {
        ensure!(
            s.user_name.as_deref() == Some(name.as_str()),
            "source.user_name is {:?}, expected {name:?}",
            s.user_name
        );
    }
    ensure!(
        got.message_id.as_deref() == Some(want.message_id.as_str()),
        "message_id is {:?}, expected {:?}",
        got.message_id,
        want.message_id
    );
    ensure!(got.text == want.text, "text is {:?}, expected {:?}", got.text, want.text);
    ensure!(!got.from_bot, "a user's message is reported as from a bot");
    ensure!(got.timestamp_ms > 0, "timestamp_ms is {}", got.timestamp_ms);
    Ok(())
}

pub async fn direct_message(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let mut running = Running::start(adapter);
    let want = h.inject_dm_text(1, "hello from the conformance suite: 1.5 *stars* (ok)!").await;
    let got = running.next_in_chat(&want.chat_id, WAIT).await?;
    matches(adapter, &got, &want)?;
    ensure!(running.sink.was_connected(), "the adapter delivered a message without calling sink.connected()");
    Ok(())
}

pub async fn group_message(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let mut running = Running::start(adapter);
    let Some(want) = h.inject_group_text(1, 2, "hello group").await else { return Ok(()) };
    let got = running.next_in_chat(&want.chat_id, WAIT).await?;
    matches(adapter, &got, &want)
}

/// `NotRecorded` must leave the message on the platform: it comes again (from the same
/// listener or the next one the supervisor starts), and after it is recorded it does
/// not come again.
pub async fn not_recorded_is_redelivered(adapter: &Arc<dyn Adapter>, h: &dyn ConformanceHarness) -> Verdict {
    let mut running = Running::start(adapter);
    // Refused by chat before the message exists: refusing by its id after injecting
    // raced adapters that deliver at once (seen with WeChat's woken long poll).
    let chat = h.open_dm(3).await;
    running.sink.refuse_next_in_chat(&chat, 1);
    let first = h.inject_dm_text(3, "first, refused once").await;
    let got = running.next_in_chat(&first.chat_id, WAIT).await?;
    ensure!(
        got.message_id.as_deref() == Some(first.message_id.as_str()),
        "expected message {}, got {:?}",
        first.message_id,
        got.message_id
    );
    let again = running
        .next_in_chat(&first.chat_id, WAIT)
        .await
        .map_err(|e| format!("a message answered NotRecorded was not delivered again: {e}"))?;
    ensure!(
        again.message_id.as_deref() == Some(first.message_id.as_str()),
        "after NotRecorded the next delivery was {:?}, not message {} again",
        again.message_id,
        first.message_id
    );
    matches(adapter, &again, &first)?;
    let second = h.inject_dm_text(3, "second").await;
    let next = running.next_in_chat(&second.chat_id, WAIT).await?;
    ensure!(
        next.message_id.as_deref() == Some(second.message_id.as_str()),
        "after message {} was recorded, the next delivery was {:?} instead of the new message {}",
        first.message_id,
        next.message_id,
        second.message_id
    );
    Ok(())
}
