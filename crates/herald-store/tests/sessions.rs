//! Session lifecycle through the public `Store` API.

mod common;

use std::time::Duration;

use common::{exchange, new_session, session, temp_store, usage};
use herald_store::{NewSession, SessionFlags, SessionListQuery, SessionPatch, Store, StoreError};

async fn tick() {
    // Timestamps have millisecond resolution; ordering tests need distinct ones.
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[tokio::test]
async fn create_then_get_returns_every_field() {
    let (_dir, store) = temp_store();
    let new = NewSession {
        key: Some("agent:main:telegram:dm:99".into()),
        platform: "telegram".into(),
        chat_type: Some("dm".into()),
        origin_json: Some(r#"{"platform":"telegram","chat_id":"99","user_id":"99"}"#.into()),
        display_name: Some("Ana".into()),
        title: Some("Trip planning".into()),
        model: Some("claude-sonnet".into()),
        system_prompt: Some("Answer in French.".into()),
        ..NewSession::default()
    };
    let before = jiff::Timestamp::now().as_millisecond();
    let created = store.create_session(new).await.expect("create");
    let after = jiff::Timestamp::now().as_millisecond();

    assert_eq!(created.key.as_deref(), Some("agent:main:telegram:dm:99"));
    assert_eq!(created.platform, "telegram");
    assert_eq!(created.chat_type.as_deref(), Some("dm"));
    assert_eq!(created.origin_json.as_deref(), Some(r#"{"platform":"telegram","chat_id":"99","user_id":"99"}"#));
    assert_eq!(created.display_name.as_deref(), Some("Ana"));
    assert_eq!(created.title.as_deref(), Some("Trip planning"));
    assert_eq!(created.model.as_deref(), Some("claude-sonnet"));
    assert_eq!(created.system_prompt.as_deref(), Some("Answer in French."));
    assert!(created.created_at >= before && created.created_at <= after);
    assert_eq!(created.updated_at, created.created_at);
    assert_eq!(created.ended_at, None);
    assert_eq!(created.message_count, 0);
    assert_eq!(created.usage, Default::default());
    assert_eq!(created.flags, SessionFlags::default());

    // `YYYYmmdd_HHMMSS_<8 hex>` in local time.
    let today = jiff::Zoned::now().strftime("%Y%m%d").to_string();
    let id = &created.id;
    assert_eq!(id.len(), 24, "{id}");
    assert!(id.starts_with(&today) || id < &today, "{id}");
    assert!(id[16..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{id}");

    let fetched = store.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(fetched, created);
    assert_eq!(store.session("20990101_000000_deadbeef").await.expect("get"), None);
}

#[tokio::test]
async fn ids_are_unique_across_many_sessions() {
    let (_dir, store) = temp_store();
    let mut ids = std::collections::HashSet::new();
    for i in 0..200 {
        let created = store.create_session(new_session(&format!("k{i}"), "local")).await.expect("create");
        assert!(ids.insert(created.id));
    }
    assert_eq!(ids.len(), 200);
}

#[tokio::test]
async fn list_is_most_recently_updated_first_with_paging_and_platform_filter() {
    let (_dir, store) = temp_store();
    let a = store.create_session(new_session("a", "telegram")).await.expect("a");
    tick().await;
    let b = store.create_session(new_session("b", "discord")).await.expect("b");
    tick().await;
    let c = store.create_session(new_session("c", "telegram")).await.expect("c");
    tick().await;
    // Activity on `a` moves it to the front.
    store.append_turn(&a.id, exchange("hi", "hello"), usage(1, 1), None).await.expect("append");

    let all = store.list_sessions(SessionListQuery::default()).await.expect("list");
    assert!(!all.has_more);
    let ids: Vec<&str> = all.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), c.id.as_str(), b.id.as_str()]);

    let page = store
        .list_sessions(SessionListQuery { limit: 1, offset: 1, ..SessionListQuery::default() })
        .await
        .expect("page");
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].id, c.id);
    assert!(page.has_more, "`b` is on the next page");

    let telegram = store
        .list_sessions(SessionListQuery { platform: Some("telegram".into()), ..SessionListQuery::default() })
        .await
        .expect("filter");
    let ids: Vec<&str> = telegram.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), c.id.as_str()]);

    let none = store
        .list_sessions(SessionListQuery { platform: Some("slack".into()), ..SessionListQuery::default() })
        .await
        .expect("filter");
    assert!(none.sessions.is_empty() && !none.has_more);
}

#[tokio::test]
async fn update_changes_only_the_given_fields_and_can_clear() {
    let (_dir, store) = temp_store();
    let created = session(&store, "k").await;

    let patch = SessionPatch {
        title: Some(Some("Renamed".into())),
        model_override: Some(Some(r#"{"model":"gpt-5","provider":"openai"}"#.into())),
        suspended: Some(true),
        resume_pending: Some(true),
        resume_reason: Some(Some("restart_timeout".into())),
        last_resume_marked_at: Some(Some(1_700_000_000_000)),
        is_fresh_reset: Some(true),
        was_auto_reset: Some(true),
        auto_reset_reason: Some(Some("idle".into())),
        reset_had_activity: Some(true),
        expiry_finalized: Some(true),
        last_prompt_tokens: Some(4096),
    };
    store.update_session(&created.id, patch).await.expect("update");
    let updated = store.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(updated.title.as_deref(), Some("Renamed"));
    assert_eq!(updated.model_override.as_deref(), Some(r#"{"model":"gpt-5","provider":"openai"}"#));
    assert_eq!(
        updated.flags,
        SessionFlags {
            suspended: true,
            resume_pending: true,
            resume_reason: Some("restart_timeout".into()),
            last_resume_marked_at: Some(1_700_000_000_000),
            is_fresh_reset: true,
            was_auto_reset: true,
            auto_reset_reason: Some("idle".into()),
            reset_had_activity: true,
            expiry_finalized: true,
        }
    );
    assert_eq!(updated.last_prompt_tokens, 4096);
    assert_eq!(updated.updated_at, created.updated_at, "patches are not activity");
    assert_eq!(updated.platform, created.platform);

    // `Some(None)` clears; `None` leaves alone.
    let clear = SessionPatch {
        title: Some(None),
        resume_pending: Some(false),
        resume_reason: Some(None),
        ..SessionPatch::default()
    };
    store.update_session(&created.id, clear).await.expect("clear");
    let cleared = store.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(cleared.title, None);
    assert!(!cleared.flags.resume_pending);
    assert_eq!(cleared.flags.resume_reason, None);
    assert!(cleared.flags.suspended, "untouched flag stays set");
    assert_eq!(cleared.model_override.as_deref(), Some(r#"{"model":"gpt-5","provider":"openai"}"#));

    // An empty patch is a no-op on an existing session.
    store.update_session(&created.id, SessionPatch::default()).await.expect("empty patch");
}

#[tokio::test]
async fn update_rejects_unknown_sessions_and_credentials() {
    let (_dir, store) = temp_store();
    let created = session(&store, "k").await;

    let err = store
        .update_session("nope", SessionPatch { suspended: Some(true), ..SessionPatch::default() })
        .await
        .expect_err("unknown");
    assert!(matches!(&err, StoreError::SessionNotFound(id) if id == "nope"), "{err}");
    let err = store.update_session("nope", SessionPatch::default()).await.expect_err("unknown, empty patch");
    assert!(matches!(err, StoreError::SessionNotFound(_)));

    let leaky =
        SessionPatch { model_override: Some(Some(r#"{"model":"m","api_key":"sk-1"}"#.into())), ..Default::default() };
    let err = store.update_session(&created.id, leaky).await.expect_err("credentials");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    let unchanged = store.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(unchanged.model_override, None);
}

#[tokio::test]
async fn end_records_the_first_reason_only() {
    let (_dir, store) = temp_store();
    let created = session(&store, "k").await;
    store.end_session(&created.id, "session_reset").await.expect("end");
    let ended = store.session(&created.id).await.expect("get").expect("exists");
    let ended_at = ended.ended_at.expect("ended");
    assert!(ended_at >= created.created_at);
    assert_eq!(ended.end_reason.as_deref(), Some("session_reset"));

    tick().await;
    store.end_session(&created.id, "new_session").await.expect("end again is fine");
    let again = store.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(again.ended_at, Some(ended_at));
    assert_eq!(again.end_reason.as_deref(), Some("session_reset"));

    assert!(matches!(store.end_session("nope", "x").await, Err(StoreError::SessionNotFound(_))));
    assert!(matches!(store.end_session(&created.id, "  ").await, Err(StoreError::InvalidInput(_))));
}

#[tokio::test]
async fn latest_for_key_ignores_ended_and_other_keys() {
    let (_dir, store) = temp_store();
    let key = "agent:main:telegram:dm:99";
    assert_eq!(store.latest_session_for_key(key).await.expect("none yet"), None);

    let first = session(&store, key).await;
    tick().await;
    let second = session(&store, key).await;
    tick().await;
    let _other = session(&store, "agent:main:telegram:dm:100").await;
    assert_eq!(store.latest_session_for_key(key).await.expect("latest").map(|s| s.id), Some(second.id.clone()));

    // Activity on the older one makes it the latest.
    tick().await;
    store.append_turn(&first.id, exchange("still there?", "yes"), usage(5, 2), None).await.expect("append");
    assert_eq!(store.latest_session_for_key(key).await.expect("latest").map(|s| s.id), Some(first.id.clone()));

    store.end_session(&first.id, "session_reset").await.expect("end");
    assert_eq!(store.latest_session_for_key(key).await.expect("latest").map(|s| s.id), Some(second.id.clone()));

    store.end_session(&second.id, "session_reset").await.expect("end");
    assert_eq!(store.latest_session_for_key(key).await.expect("latest"), None);
}

#[tokio::test]
async fn parent_sessions_must_exist() {
    let (_dir, store) = temp_store();
    let parent = session(&store, "k").await;
    let child = store
        .create_session(NewSession { parent_session_id: Some(parent.id.clone()), ..new_session("k", "telegram") })
        .await
        .expect("child");
    assert_eq!(child.parent_session_id.as_deref(), Some(parent.id.as_str()));

    let err = store
        .create_session(NewSession { parent_session_id: Some("missing".into()), ..new_session("k", "telegram") })
        .await
        .expect_err("unknown parent");
    assert!(matches!(&err, StoreError::InvalidInput(m) if m.contains("missing")), "{err}");
}

#[tokio::test]
async fn invalid_new_sessions_are_refused_and_nothing_is_stored() {
    let (_dir, store) = temp_store();
    let no_platform = NewSession { platform: String::new(), ..NewSession::default() };
    assert!(matches!(store.create_session(no_platform).await, Err(StoreError::InvalidInput(_))));
    let bad_origin = NewSession { origin_json: Some("{not json".into()), ..new_session("k", "telegram") };
    assert!(matches!(store.create_session(bad_origin).await, Err(StoreError::InvalidInput(_))));
    assert!(store.list_sessions(SessionListQuery::default()).await.expect("list").sessions.is_empty());
}
