//! What the gateway keeps in the store: the inbound log (the durability point of every
//! platform message), the outbox (at most one delivery of every reply), adapter state,
//! and pairing with Hermes's constants. Times are injected; nothing here waits.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::temp_store;
use herald_core::{AdapterState, Message};
use herald_store::{
    InboundState, NewInbound, NewOutbound, NewSession, OutboundState, PAIRING_ALPHABET, PAIRING_CODE_LENGTH,
    PAIRING_CODE_TTL_SECONDS, PAIRING_LOCKOUT_SECONDS, PAIRING_MAX_FAILED_ATTEMPTS, PAIRING_MAX_PENDING_PER_PLATFORM,
    PAIRING_RATE_LIMIT_SECONDS, PairingRequest, SqliteStore, Store, StoreAdapterState, StoreError,
};
use sha2::{Digest, Sha256};

const T0: i64 = 1_750_000_000_000;
const SECOND: i64 = 1000;

fn inbound(dedup_key: &str, account: Option<&str>) -> NewInbound {
    NewInbound {
        platform: "telegram".into(),
        account: account.map(str::to_owned),
        dedup_key: dedup_key.into(),
        payload_json: format!(r#"{{"text":"message {dedup_key}"}}"#),
        received_at: T0,
    }
}

fn reply(text: &str, account: Option<&str>) -> NewOutbound {
    NewOutbound {
        platform: "telegram".into(),
        account: account.map(str::to_owned),
        session_id: Some("s1".into()),
        target_json: r#"{"chat_id":"99"}"#.into(),
        op_json: format!(r#"{{"send_text":{{"text":"{text}"}}}}"#),
        not_before: None,
    }
}

async fn reopen(path: &Path, store: SqliteStore) -> SqliteStore {
    store.close().await;
    SqliteStore::open(path).expect("reopen")
}

async fn code(store: &SqliteStore, user: &str, now: i64) -> String {
    match store.pairing_request("telegram", user, Some("Alice"), now).await.expect("request") {
        PairingRequest::Code(code) => code,
        other => panic!("expected a code for {user}, got {other:?}"),
    }
}

// ----- Inbound log -----

#[tokio::test]
async fn a_message_recorded_twice_is_a_duplicate_that_changes_nothing() {
    let (_dir, store) = temp_store();
    let first = store.record_inbound(inbound("99:1", None)).await.expect("record");
    assert!(!first.duplicate);

    let mut copy = inbound("99:1", None);
    copy.payload_json = r#"{"text":"a different body"}"#.into();
    copy.received_at = T0 + 5 * SECOND;
    let again = store.record_inbound(copy).await.expect("record the copy");
    assert!(again.duplicate);
    assert_eq!(again.id, first.id);
    let row = store.inbound(first.id).await.expect("read").expect("row");
    assert_eq!((row.payload_json.as_str(), row.received_at), (r#"{"text":"message 99:1"}"#, T0));

    // The identity is (platform, account, dedup_key): another account or platform is new.
    assert!(!store.record_inbound(inbound("99:1", Some("bot2"))).await.expect("other account").duplicate);
    let mut other_platform = inbound("99:1", None);
    other_platform.platform = "discord".into();
    assert!(!store.record_inbound(other_platform).await.expect("other platform").duplicate);
    assert!(store.record_inbound(inbound("99:1", Some("bot2"))).await.expect("again").duplicate);
    assert_eq!(store.pending_inbound("telegram").await.expect("pending").len(), 2);
}

#[tokio::test]
async fn unfinished_messages_survive_a_restart_oldest_first_with_their_session() {
    let (dir, store) = temp_store();
    let a = store.record_inbound(inbound("99:1", None)).await.expect("a").id;
    let b = store.record_inbound(inbound("99:2", None)).await.expect("b").id;
    let c = store.record_inbound(inbound("99:3", None)).await.expect("c").id;
    store.start_inbound(a, "session-a").await.expect("start a");
    store.finish_inbound(b, "answered").await.expect("finish b");

    let store = reopen(&dir.path().join("herald.db"), store).await;
    let pending = store.pending_inbound("telegram").await.expect("pending");
    let seen: Vec<(i64, InboundState, Option<&str>)> =
        pending.iter().map(|row| (row.id, row.state, row.session_id.as_deref())).collect();
    assert_eq!(seen, vec![(a, InboundState::Started, Some("session-a")), (c, InboundState::Recorded, None)]);
    assert!(pending[0].started_at.is_some());
    assert!(store.pending_inbound("discord").await.expect("other platform").is_empty());

    let finished = store.inbound(b).await.expect("read").expect("row");
    assert_eq!((finished.state, finished.outcome.as_deref()), (InboundState::Finished, Some("answered")));
    // A redelivery after the restart is still recognised.
    assert!(store.record_inbound(inbound("99:2", None)).await.expect("redelivered").duplicate);
}

#[tokio::test]
async fn bad_inbound_input_is_refused() {
    let (_dir, store) = temp_store();
    let mut bad = inbound("1", None);
    bad.payload_json = "{not json".into();
    assert!(matches!(store.record_inbound(bad).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(store.record_inbound(inbound("1", Some(""))).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(store.start_inbound(42, "s").await, Err(StoreError::InboundNotFound(42))));
    assert!(matches!(store.finish_inbound(42, "answered").await, Err(StoreError::InboundNotFound(42))));
    assert!(store.pending_inbound("telegram").await.expect("pending").is_empty());
}

#[tokio::test]
async fn the_user_s_message_enters_the_transcript_in_the_same_write_that_starts_the_message() {
    let (_dir, store) = temp_store();
    let id = store.record_inbound(inbound("99:1", None)).await.expect("record").id;
    let session = |id: &str| NewSession {
        id: Some(id.to_owned()),
        key: Some("agent:main:telegram:dm:99".into()),
        platform: "telegram".into(),
        ..NewSession::default()
    };
    let opened =
        store.open_inbound_turn(id, session("s-1"), vec![Message::user("hello").into()]).await.expect("open turn");
    assert!(opened.created);
    assert_eq!(opened.message_ids.len(), 1);
    let row = store.inbound(id).await.expect("read").expect("row");
    assert_eq!((row.state, row.session_id.as_deref()), (InboundState::Started, Some("s-1")));
    assert_eq!(store.messages("s-1").await.expect("messages").len(), 1);

    // Without a recordable start, neither the session nor the message is written.
    let err = store.open_inbound_turn(9_999, session("s-2"), vec![Message::user("lost").into()]).await;
    assert!(matches!(err, Err(StoreError::InboundNotFound(9_999))), "{err:?}");
    assert_eq!(store.session("s-2").await.expect("read"), None);
    store.finish_inbound(id, "answered").await.expect("finish");
    let err = store.open_inbound_turn(id, session("s-1"), vec![Message::user("again").into()]).await;
    assert!(matches!(err, Err(StoreError::InvalidInput(_))), "{err:?}");
    assert_eq!(store.messages("s-1").await.expect("messages").len(), 1);
}

// ----- Outbox -----

#[tokio::test]
async fn queuing_the_answer_and_finishing_the_message_commit_together() {
    let (_dir, store) = temp_store();
    let id = store.record_inbound(inbound("99:1", None)).await.expect("record").id;

    let queued = store
        .enqueue_outbound(vec![reply("part 1", None), reply("part 2", None)], Some((id, "answered".into())))
        .await
        .expect("enqueue");
    assert_eq!(queued.len(), 2);
    assert!(queued[0] < queued[1]);
    assert!(store.pending_inbound("telegram").await.expect("pending").is_empty());
    let due = store.due_outbound("telegram", None, T0, 10).await.expect("due");
    assert_eq!(due.iter().map(|row| row.id).collect::<Vec<_>>(), queued);
    assert_eq!((due[0].state, due[0].attempts, due[0].session_id.as_deref()), (OutboundState::Pending, 0, Some("s1")));

    // Finishing an unknown message fails the whole write: nothing is queued.
    let err = store.enqueue_outbound(vec![reply("lost", None)], Some((9_999, "answered".into()))).await;
    assert!(matches!(err, Err(StoreError::InboundNotFound(9_999))), "{err:?}");
    // An invalid item fails it too: the message stays unfinished.
    let other = store.record_inbound(inbound("99:2", None)).await.expect("record").id;
    let mut bad = reply("bad", None);
    bad.target_json = "nope".into();
    let err = store.enqueue_outbound(vec![reply("fine", None), bad], Some((other, "answered".into()))).await;
    assert!(matches!(err, Err(StoreError::InvalidInput(_))), "{err:?}");
    assert_eq!(store.due_outbound("telegram", None, T0, 10).await.expect("due").len(), 2);
    assert_eq!(store.pending_inbound("telegram").await.expect("pending")[0].id, other);

    // No items with a finish just finishes (a silent answer).
    assert!(store.enqueue_outbound(Vec::new(), Some((other, "silent".into()))).await.expect("finish").is_empty());
    assert!(store.pending_inbound("telegram").await.expect("pending").is_empty());
}

#[tokio::test]
async fn claim_complete_retry_and_fail() {
    let (_dir, store) = temp_store();
    let mut later = reply("later", None);
    later.not_before = Some(T0 + 60 * SECOND);
    let ids = store.enqueue_outbound(vec![reply("a", None), later, reply("b", None)], None).await.expect("enqueue");
    let (a, later, b) = (ids[0], ids[1], ids[2]);
    let due_ids = |rows: Vec<herald_store::OutboundRow>| rows.iter().map(|row| row.id).collect::<Vec<_>>();
    assert_eq!(due_ids(store.due_outbound("telegram", None, T0, 10).await.expect("due")), vec![a, b]);

    // A claimed row is durable in flight and no longer due; a second claim gets nothing.
    let claimed = store.claim_outbound(a).await.expect("claim").expect("claimed");
    assert_eq!((claimed.state, claimed.attempts), (OutboundState::InFlight, 1));
    assert_eq!(store.claim_outbound(a).await.expect("claim again"), None);
    assert_eq!(due_ids(store.due_outbound("telegram", None, T0, 10).await.expect("due")), vec![b]);

    // Retry: due again only from the given time, with the error kept.
    store.retry_outbound(a, "HTTP 502 from the platform", T0 + 30 * SECOND).await.expect("retry");
    assert_eq!(due_ids(store.due_outbound("telegram", None, T0 + 29 * SECOND, 10).await.expect("due")), vec![b]);
    let due = store.due_outbound("telegram", None, T0 + 30 * SECOND, 10).await.expect("due");
    assert_eq!(due_ids(due.clone()), vec![a, b]);
    assert_eq!(due[0].last_error.as_deref(), Some("HTTP 502 from the platform"));
    assert_eq!(store.claim_outbound(a).await.expect("claim").expect("claimed").attempts, 2);

    store.complete_outbound(a, Some("555")).await.expect("complete");
    let sent = store.outbound(a).await.expect("read").expect("row");
    assert_eq!((sent.state, sent.platform_message_id.as_deref()), (OutboundState::Sent, Some("555")));
    let err = store.complete_outbound(a, Some("556")).await.expect_err("completed twice");
    assert!(
        matches!(err, StoreError::WrongOutboundState { found: OutboundState::Sent, .. }),
        "a sent row cannot be completed again: {err}"
    );

    // Fail: permanent, from pending or in flight, never due again.
    store.claim_outbound(b).await.expect("claim").expect("claimed");
    store.fail_outbound(b, "chat not found").await.expect("fail");
    store.fail_outbound(later, "cancelled").await.expect("fail a pending row");
    assert!(store.due_outbound("telegram", None, i64::MAX, 10).await.expect("due").is_empty());
    assert_eq!(store.outbound(b).await.expect("read").expect("row").state, OutboundState::Failed);
    assert!(matches!(store.retry_outbound(b, "x", T0).await, Err(StoreError::WrongOutboundState { .. })));
    assert!(matches!(store.complete_outbound(77, None).await, Err(StoreError::OutboundNotFound(77))));
}

#[tokio::test]
async fn sends_in_flight_at_a_restart_become_unknown_and_are_never_due_again() {
    let (dir, store) = temp_store();
    let ids = store
        .enqueue_outbound(vec![reply("sending", None), reply("waiting", None), reply("other bot", Some("bot2"))], None)
        .await
        .expect("enqueue");
    store.claim_outbound(ids[0]).await.expect("claim").expect("claimed");
    store.claim_outbound(ids[2]).await.expect("claim").expect("claimed");

    // The process stops between the claim and the outcome of the send.
    let store = reopen(&dir.path().join("herald.db"), store).await;
    let abandoned = store.abandon_in_flight("telegram", None).await.expect("abandon");
    assert_eq!(
        abandoned.iter().map(|row| (row.id, row.state)).collect::<Vec<_>>(),
        vec![(ids[0], OutboundState::Unknown)]
    );
    assert!(abandoned[0].last_error.is_some());
    assert!(store.abandon_in_flight("telegram", None).await.expect("again").is_empty());

    let due = store.due_outbound("telegram", None, i64::MAX, 10).await.expect("due");
    assert_eq!(due.iter().map(|row| row.id).collect::<Vec<_>>(), vec![ids[1]]);
    assert_eq!(store.claim_outbound(ids[0]).await.expect("claim unknown"), None);
    assert!(matches!(store.retry_outbound(ids[0], "x", T0).await, Err(StoreError::WrongOutboundState { .. })));
    // Another account's sends are that account's startup to settle.
    assert_eq!(store.outbound(ids[2]).await.expect("read").expect("row").state, OutboundState::InFlight);
}

#[tokio::test]
async fn old_finished_rows_can_be_pruned() {
    let (_dir, store) = temp_store();
    let done = store.record_inbound(inbound("99:1", None)).await.expect("record").id;
    let open = store.record_inbound(inbound("99:2", None)).await.expect("record").id;
    let ids = store.enqueue_outbound(vec![reply("a", None), reply("b", None)], Some((done, "answered".into()))).await;
    let ids = ids.expect("enqueue");
    store.claim_outbound(ids[0]).await.expect("claim");
    store.complete_outbound(ids[0], None).await.expect("complete");

    let pruned = store.prune_gateway_log(i64::MAX).await.expect("prune");
    assert_eq!((pruned.inbound, pruned.outbound), (1, 1));
    assert!(store.inbound(done).await.expect("read").is_none());
    assert!(store.inbound(open).await.expect("read").is_some());
    assert!(store.outbound(ids[1]).await.expect("read").is_some());
}

// ----- Adapter state -----

#[tokio::test]
async fn adapter_state_is_kept_across_restarts() {
    let (dir, store) = temp_store();
    assert_eq!(store.state_get("telegram", "update_offset").await.expect("get"), None);
    store.state_put("telegram", "update_offset", "100").await.expect("put");
    store.state_put("telegram", "update_offset", "101").await.expect("replace");
    store.state_put("weixin:acct", "context_token:u1", "tok").await.expect("other namespace");
    let store = reopen(&dir.path().join("herald.db"), store).await;
    assert_eq!(store.state_get("telegram", "update_offset").await.expect("get").as_deref(), Some("101"));
    assert_eq!(store.state_get("weixin:acct", "context_token:u1").await.expect("get").as_deref(), Some("tok"));
    assert_eq!(store.state_get("weixin:acct", "update_offset").await.expect("get"), None);
}

#[tokio::test]
async fn an_adapter_sees_only_its_own_account_s_state() {
    let (_dir, store) = temp_store();
    let store: Arc<dyn Store> = Arc::new(store);
    let only = StoreAdapterState::new(store.clone(), "telegram", None);
    let second = StoreAdapterState::new(store.clone(), "telegram", Some("bot2"));
    only.put("update_offset", "7").await.expect("put");
    second.put("update_offset", "9").await.expect("put");
    assert_eq!(only.get("update_offset").await.expect("get").as_deref(), Some("7"));
    assert_eq!(second.get("update_offset").await.expect("get").as_deref(), Some("9"));
    assert_eq!(second.namespace(), "telegram:bot2");
    assert_eq!(store.state_get("telegram", "update_offset").await.expect("get").as_deref(), Some("7"));
    assert!(only.put("", "x").await.is_err());
}

// ----- Pairing -----

#[test]
fn pairing_constants_are_hermes_s() {
    assert_eq!(PAIRING_ALPHABET, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
    assert_eq!(PAIRING_CODE_LENGTH, 8);
    assert_eq!(PAIRING_CODE_TTL_SECONDS, 3600);
    assert_eq!(PAIRING_RATE_LIMIT_SECONDS, 600);
    assert_eq!(PAIRING_LOCKOUT_SECONDS, 3600);
    assert_eq!(PAIRING_MAX_FAILED_ATTEMPTS, 5);
    assert_eq!(PAIRING_MAX_PENDING_PER_PLATFORM, 3);
}

#[tokio::test]
async fn a_code_is_rate_limited_per_user_and_approved_in_any_case() {
    let (_dir, store) = temp_store();
    let first = code(&store, "42", T0).await;
    assert_eq!(first.len(), 8);
    assert!(first.chars().all(|c| PAIRING_ALPHABET.contains(c)), "{first}");

    for at in [T0 + SECOND, T0 + 599 * SECOND] {
        let again = store.pairing_request("telegram", "42", Some("Alice"), at).await.expect("request");
        assert_eq!(again, PairingRequest::RateLimited);
    }
    // The limit is per user and per platform.
    code(&store, "43", T0 + SECOND).await;
    let elsewhere = store.pairing_request("discord", "42", None, T0 + SECOND).await.expect("request");
    assert!(matches!(elsewhere, PairingRequest::Code(_)), "{elsewhere:?}");
    // After 600 s the same user may ask again.
    code(&store, "42", T0 + 600 * SECOND).await;

    assert!(!store.pairing_is_approved("telegram", "42").await.expect("approved?"));
    let user = store
        .pairing_approve("telegram", &format!(" {} ", first.to_lowercase()), T0 + 700 * SECOND)
        .await
        .expect("approve")
        .expect("the code matches");
    assert_eq!((user.platform.as_str(), user.user_id.as_str()), ("telegram", "42"));
    assert_eq!((user.user_name.as_deref(), user.approved_at), (Some("Alice"), T0 + 700 * SECOND));
    assert!(store.pairing_is_approved("telegram", "42").await.expect("approved?"));
    assert!(!store.pairing_is_approved("discord", "42").await.expect("not on another platform"));
    // A code works once.
    assert_eq!(store.pairing_approve("telegram", &first, T0 + 701 * SECOND).await.expect("approve"), None);
}

#[tokio::test]
async fn a_code_expires_after_an_hour() {
    let (_dir, store) = temp_store();
    let ttl = PAIRING_CODE_TTL_SECONDS * SECOND;
    let kept = code(&store, "1", T0).await;
    let expired = code(&store, "2", T0).await;
    assert!(store.pairing_approve("telegram", &kept, T0 + ttl).await.expect("approve").is_some(), "still live at 1 h");
    assert_eq!(store.pairing_approve("telegram", &expired, T0 + ttl + 1).await.expect("approve"), None);
    assert!(!store.pairing_is_approved("telegram", "2").await.expect("approved?"));
    assert!(store.pairing_list(T0 + ttl + 1).await.expect("list").pending.is_empty());
}

#[tokio::test]
async fn a_platform_has_at_most_three_live_codes() {
    let (_dir, store) = temp_store();
    for user in ["1", "2", "3"] {
        code(&store, user, T0).await;
    }
    let fourth = store.pairing_request("telegram", "4", None, T0 + SECOND).await.expect("request");
    assert_eq!(fourth, PairingRequest::Unavailable);
    // The refused request counts for the rate limit: the user hears "try later" once.
    let again = store.pairing_request("telegram", "4", None, T0 + 2 * SECOND).await.expect("request");
    assert_eq!(again, PairingRequest::RateLimited);
    // Other platforms are not affected, and expired codes free their slots.
    assert!(matches!(store.pairing_request("discord", "4", None, T0).await.expect("request"), PairingRequest::Code(_)));
    let after_expiry = T0 + (PAIRING_CODE_TTL_SECONDS + 1) * SECOND;
    code(&store, "4", after_expiry).await;
}

#[tokio::test]
async fn five_wrong_codes_lock_the_platform_for_an_hour() {
    let (_dir, store) = temp_store();
    let valid = code(&store, "42", T0).await;
    for attempt in 0..5 {
        let now = T0 + (attempt + 1) * SECOND;
        assert!(!store.pairing_is_locked_out("telegram", now).await.expect("locked?"));
        assert_eq!(store.pairing_approve("telegram", "AAAAAAAA", now).await.expect("wrong code"), None);
    }
    let locked_at = T0 + 5 * SECOND;
    assert!(store.pairing_is_locked_out("telegram", locked_at).await.expect("locked?"));
    assert!(!store.pairing_is_locked_out("discord", locked_at).await.expect("other platform"));
    // Even the valid code fails while locked, and the attempt does not count.
    assert_eq!(store.pairing_approve("telegram", &valid, locked_at + SECOND).await.expect("approve"), None);
    assert!(!store.pairing_is_approved("telegram", "42").await.expect("approved?"));
    // No codes are issued while locked either.
    let locked_request = store.pairing_request("telegram", "43", None, locked_at + SECOND).await.expect("request");
    assert_eq!(locked_request, PairingRequest::Unavailable);

    let unlocked = locked_at + PAIRING_LOCKOUT_SECONDS * SECOND;
    assert!(!store.pairing_is_locked_out("telegram", unlocked).await.expect("locked?"));
    let fresh = code(&store, "44", unlocked).await;
    // The counter restarted at the lockout: one wrong code does not lock again.
    assert_eq!(store.pairing_approve("telegram", "BBBBBBBB", unlocked).await.expect("wrong"), None);
    assert!(store.pairing_approve("telegram", &fresh, unlocked + SECOND).await.expect("approve").is_some());
}

#[tokio::test]
async fn a_right_code_resets_the_count_of_wrong_ones() {
    let (_dir, store) = temp_store();
    let first = code(&store, "1", T0).await;
    let second = code(&store, "2", T0).await;
    for _ in 0..4 {
        store.pairing_approve("telegram", "AAAAAAAA", T0 + SECOND).await.expect("wrong");
    }
    assert!(store.pairing_approve("telegram", &first, T0 + SECOND).await.expect("approve").is_some());
    for _ in 0..4 {
        store.pairing_approve("telegram", "AAAAAAAA", T0 + SECOND).await.expect("wrong");
    }
    assert!(!store.pairing_is_locked_out("telegram", T0 + SECOND).await.expect("locked?"));
    assert!(store.pairing_approve("telegram", &second, T0 + SECOND).await.expect("approve").is_some());
}

#[tokio::test]
async fn codes_are_stored_only_as_salted_hashes() {
    let (dir, store) = temp_store();
    let issued = code(&store, "42", T0).await;
    let path = dir.path().join("herald.db");
    let store = reopen(&path, store).await;

    let raw = rusqlite::Connection::open(&path).expect("open raw");
    let (hash, salt): (String, String) = raw
        .query_row("SELECT code_hash, salt FROM pairing_pending", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("the pending row");
    let salt = hex::decode(salt).expect("hex salt");
    assert_eq!(salt.len(), 16);
    let mut hasher = Sha256::new();
    hasher.update(&salt);
    hasher.update(issued.as_bytes());
    assert_eq!(hash, hex::encode(hasher.finalize()));
    drop(raw);
    // Nowhere in the files, in any case.
    for file in ["herald.db", "herald.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            let text = String::from_utf8_lossy(&bytes).to_uppercase();
            assert!(!text.contains(&issued), "the code is in {file}");
        }
    }
    assert!(store.pairing_approve("telegram", &issued, T0 + SECOND).await.expect("approve").is_some());
}

#[tokio::test]
async fn list_revoke_and_clear_pending() {
    let (_dir, store) = temp_store();
    let approved = code(&store, "42", T0).await;
    store.pairing_approve("telegram", &approved, T0 + SECOND).await.expect("approve").expect("approved");
    let issued = code(&store, "43", T0 + 2 * SECOND).await;
    code(&store, "7", T0 + 3 * SECOND).await;

    let list = store.pairing_list(T0 + 4 * SECOND).await.expect("list");
    assert_eq!(list.pending.iter().map(|p| p.user_id.as_str()).collect::<Vec<_>>(), vec!["43", "7"]);
    for pending in &list.pending {
        assert_eq!(pending.request_id.len(), 16);
        assert_eq!(pending.hash_prefix.len(), 8);
        assert!(pending.hash_prefix.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{pending:?}").contains(&issued));
    }
    assert_eq!(list.approved.len(), 1);
    assert_eq!((list.approved[0].user_id.as_str(), list.approved[0].approved_at), ("42", T0 + SECOND));

    assert!(store.pairing_revoke("telegram", "42").await.expect("revoke"));
    assert!(!store.pairing_revoke("telegram", "42").await.expect("revoke again"));
    assert!(!store.pairing_is_approved("telegram", "42").await.expect("approved?"));

    assert_eq!(store.pairing_clear_pending().await.expect("clear"), 2);
    assert!(store.pairing_list(T0 + 5 * SECOND).await.expect("list").pending.is_empty());
    assert_eq!(store.pairing_approve("telegram", &issued, T0 + 5 * SECOND).await.expect("approve"), None);
}
