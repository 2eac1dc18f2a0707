//! The real WeChat adapter against the fake iLink server of herald-testkit: the
//! WeChat-specific contract (context tokens, the persisted
//! cursor, the failure policy, media both ways, the SSRF allowlist, the one-shot sender).
//! Every test ends by checking the fake saw no malformed request.

#![cfg(feature = "weixin")]

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::{ConfigLoader, WeixinConfig};
use herald_core::{Adapter, AdapterState, MediaKind, OutboundOp, SendError, Target, TextFormat};
use herald_platforms::weixin::{PollTiming, WeixinAccount, WeixinAdapter, WeixinSender, WeixinSettings};
use herald_testkit::MemState;
use herald_testkit::conformance::{Running, WAIT};
use herald_testkit::weixin::{FakeWeixin, Fault, InboundMedia, InboundMessage, KeyEncoding, MediaKind as WxKind};
use serde_json::json;

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn config(wx: &FakeWeixin, extra: &[(&str, &str)]) -> WeixinConfig {
    let mut loader = ConfigLoader::new();
    let mut env = vec![
        ("WEIXIN_ACCOUNT_ID".to_string(), wx.bot_id().to_string()),
        ("WEIXIN_BASE_URL".to_string(), wx.base_url()),
        ("WEIXIN_CDN_BASE_URL".to_string(), wx.cdn_base_url()),
        // No waiting in tests: no gap between chunks, short retries, the circuit
        // closing at once (the rate-limit check sends again right after the flood).
        ("WEIXIN_SEND_CHUNK_DELAY_SECONDS".to_string(), "0".to_string()),
        ("WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS".to_string(), "0.01".to_string()),
        ("WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS".to_string(), "0".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    loader.env(env);
    loader.build().expect("the test configuration loads").config.weixin
}

fn account(wx: &FakeWeixin) -> WeixinAccount {
    WeixinAccount {
        account_id: wx.bot_id().to_string(),
        token: wx.token().to_string(),
        base_url: wx.base_url(),
        user_id: Some(wx.owner_user_id().to_string()),
    }
}

fn settings(wx: &FakeWeixin, cache: &std::path::Path, state: Arc<MemState>, extra: &[(&str, &str)]) -> WeixinSettings {
    let mut s = WeixinSettings::new(config(wx, extra), account(wx), cache.to_path_buf(), 1024 * 1024, state);
    s.timing = PollTiming {
        retry_delay: Duration::from_millis(20),
        backoff: Duration::from_millis(50),
        max_failures: 3,
        session_pause: Duration::from_millis(100),
    };
    s
}

fn adapter(wx: &FakeWeixin, cache: &std::path::Path, state: Arc<MemState>) -> Arc<dyn Adapter> {
    Arc::new(WeixinAdapter::new(settings(wx, cache, state, &[])).expect("the adapter builds"))
}

fn dm(peer: &str) -> Target {
    Target { chat_id: peer.to_string(), chat_type: Some(herald_core::ChatType::Dm), thread_id: None, reply_to: None }
}

fn no_violations(wx: &FakeWeixin) {
    let v = wx.violations();
    assert!(v.is_empty(), "the fake refused malformed requests: {v:#?}");
}

const ALICE: &str = "o9cq80alice001@im.wechat";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_echo_the_latest_context_token() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let state = Arc::new(MemState::default());
    let adapter = adapter(&wx, cache.path(), state.clone());
    let mut running = Running::start(&adapter);
    let first = wx.inject_text(ALICE, "hello");
    let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some(first.message_id.as_str()));
    assert_eq!(got.text, "hello");
    let second = wx.inject_text(ALICE, "again");
    running.next_in_chat(ALICE, WAIT).await.unwrap();
    assert_ne!(first.context_token, second.context_token);
    adapter
        .send(&dm(ALICE), &OutboundOp::Send { text: "hi Alice".into(), format: TextFormat::Markdown })
        .await
        .unwrap();
    let sent = wx.sent_to(ALICE);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text.as_deref(), Some("hi Alice"));
    assert_eq!(sent[0].context_token.as_deref(), Some(second.context_token.as_str()));
    // Persisted, so a restart (or the one-shot sender) still has it.
    assert_eq!(state.value(&format!("context_token:{ALICE}")), Some(second.context_token.clone()));
    let sender = WeixinSender::new(&config(&wx, &[]), &account(&wx), state.clone()).unwrap();
    sender.send_text(ALICE, "from cron").await.unwrap();
    let sent = wx.sent_to(ALICE);
    assert_eq!(sent[1].text.as_deref(), Some("from cron"));
    assert_eq!(sent[1].context_token.as_deref(), Some(second.context_token.as_str()));
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_persisted_cursor() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let state = Arc::new(MemState::default());
    {
        let adapter = adapter(&wx, cache.path(), state.clone());
        let mut running = Running::start(&adapter);
        wx.inject_text(ALICE, "one");
        assert_eq!(running.next_in_chat(ALICE, WAIT).await.unwrap().text, "one");
        // The cursor is stored once the batch was recorded.
        let stored = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(c) = state.value("get_updates_buf") {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert!(!stored.is_empty());
    }
    // A new adapter over the same state: "one" is not delivered again, "two" is.
    let adapter = adapter(&wx, cache.path(), state.clone());
    let mut running = Running::start(&adapter);
    let two = wx.inject_text(ALICE, "two");
    let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some(two.message_id.as_str()), "{got:?}");
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_as_ordered_chunks_within_the_limit() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let paragraphs: Vec<String> = (0..12).map(|i| format!("Paragraph {i}: {}", "word ".repeat(60).trim())).collect();
    let text = paragraphs.join("\n\n");
    assert!(text.chars().count() > 3000);
    adapter.send(&dm(ALICE), &OutboundOp::Send { text: text.clone(), format: TextFormat::Markdown }).await.unwrap();
    let texts = wx.texts_to(ALICE);
    assert!(texts.len() >= 2, "{texts:?}");
    for t in &texts {
        assert!(t.chars().count() <= 2000);
    }
    // In order: every paragraph appears, in the order written.
    let joined = texts.join("\n\n");
    let mut at = 0;
    for p in &paragraphs {
        let found = joined[at..].find(&p[..20]).unwrap_or_else(|| panic!("{p:.20} missing or out of order"));
        at += found + 1;
    }
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapters_own_parts_are_final_and_keep_the_chunk_gap_per_peer() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let s = settings(&wx, cache.path(), Arc::default(), &[("WEIXIN_SEND_CHUNK_DELAY_SECONDS", "0.2")]);
    let adapter: Arc<dyn Adapter> = Arc::new(WeixinAdapter::new(s).unwrap());
    let text = (0..8).map(|i| format!("## Part {i}\n{}", "word ".repeat(80).trim())).collect::<Vec<_>>().join("\n\n");
    let parts = adapter.split_text(&text).expect("WeChat splits answers itself");
    assert!(parts.len() >= 2, "{parts:?}");
    assert!(parts.iter().all(|p| p.chars().count() <= 2000 && !p.contains("## ")), "formatted: {parts:?}");
    // The gateway sends each part as its own plain send; they arrive unchanged, with
    // the gap between sends to one peer kept by the adapter.
    let started = std::time::Instant::now();
    for p in &parts {
        adapter.send(&dm(ALICE), &OutboundOp::Send { text: p.clone(), format: TextFormat::Plain }).await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(200) * (parts.len() as u32 - 1), "the gap was kept");
    assert_eq!(wx.texts_to(ALICE), parts);
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_media_is_decrypted_byte_for_byte_in_every_key_encoding() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let mut running = Running::start(&adapter);
    let cases = [
        (WxKind::Image, KeyEncoding::ImageHex, MediaKind::Photo, "images"),
        (WxKind::Image, KeyEncoding::Base64Raw, MediaKind::Photo, "images"),
        (WxKind::Image, KeyEncoding::Base64Hex, MediaKind::Photo, "images"),
        (WxKind::Image, KeyEncoding::Plain, MediaKind::Photo, "images"),
        (WxKind::File, KeyEncoding::Base64Hex, MediaKind::Document, "documents"),
        (WxKind::Video, KeyEncoding::Base64Hex, MediaKind::Video, "videos"),
        (WxKind::Voice, KeyEncoding::Base64Hex, MediaKind::Voice, "audio"),
    ];
    for (n, (wire, key, kind, dir)) in cases.into_iter().enumerate() {
        let bytes: Vec<u8> = (0..(1000 + n * 37)).map(|i| (i * 7 + n) as u8).collect();
        let mut media = InboundMedia::new(wire, bytes.clone()).with_key(key);
        if wire == WxKind::File {
            media = media.with_file_name("report.pdf");
        }
        if wire == WxKind::Voice {
            media.voice_text = Some("语音转文字".into());
        }
        wx.inject_media(ALICE, media);
        let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
        assert_eq!(got.media.len(), 1, "{wire:?} {key:?}: {got:?}");
        let a = &got.media[0];
        assert_eq!(a.kind, kind);
        assert_eq!(std::fs::read(&a.path).unwrap(), bytes, "{wire:?} {key:?}");
        assert_eq!(a.size, bytes.len() as u64);
        assert!(a.path.starts_with(cache.path().join(dir)), "{:?}", a.path);
        if wire == WxKind::File {
            assert_eq!(a.file_name.as_deref(), Some("report.pdf"));
            assert_eq!(a.mime_type.as_deref(), Some("application/pdf"));
        }
        if wire == WxKind::Voice {
            assert_eq!(a.transcript.as_deref(), Some("语音转文字"));
        }
    }
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdn_url_outside_the_allowlist_is_refused() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let mut running = Running::start(&adapter);
    // All on this machine (a test never reaches further), none the configured CDN.
    for url in ["http://127.0.0.1:1/latest/meta-data", "http://localhost:9/download?x=1", "file:///etc/passwd"] {
        wx.inject_raw(json!({
            "from_user_id": ALICE, "to_user_id": wx.bot_id(), "message_type": 1, "create_time_ms": 1,
            "item_list": [
                {"type": 1, "text_item": {"text": "look"}},
                {"type": 2, "image_item": {"media": {"full_url": url}}}
            ]
        }));
        let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
        assert_eq!(got.text, "look");
        assert!(got.media.is_empty(), "{url}: {got:?}");
    }
    assert!(std::fs::read_dir(cache.path().join("images")).is_err(), "nothing was cached");
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_media_reaches_the_cdn_encrypted_and_decryptable() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let dir = tempfile::tempdir().unwrap();
    for (kind, name, wire) in [
        (MediaKind::Photo, "chart.png", "image"),
        (MediaKind::Document, "notes.txt", "file"),
        (MediaKind::Video, "clip.mp4", "video"),
        (MediaKind::Audio, "song.mp3", "file"),
    ] {
        let path = dir.path().join(name);
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let op = OutboundOp::SendMedia { kind, path, caption: Some(format!("caption of {name}")) };
        let sent = adapter.send(&dm(ALICE), &op).await.unwrap();
        let last = wx.sent_to(ALICE).pop().unwrap();
        assert_eq!(sent.message_id.as_deref(), Some(last.message_id.as_str()));
        assert_eq!(last.kind, wire, "{name}");
        let upload = wx.upload(last.encrypt_query_param.as_deref().unwrap()).unwrap();
        assert_eq!(upload.plain.as_deref(), Some(bytes.as_slice()), "{name} decrypts to what was sent");
        assert_eq!(upload.to_user_id, ALICE);
        let texts = wx.texts_to(ALICE);
        assert_eq!(texts.last().map(String::as_str), Some(format!("caption of {name}").as_str()));
        if wire == "file" {
            assert_eq!(last.file_name.as_deref(), Some(name));
        }
    }
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_pauses_and_recovers_and_5xx_is_retried() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    wx.fail_next("getupdates", 1, Fault::session_expired());
    wx.fail_next("getupdates", 4, Fault::http(502));
    wx.fail_next("getupdates", 1, Fault::minus2("unknown error"));
    let mut running = Running::start(&adapter);
    let m = wx.inject_text(ALICE, "after the outage");
    let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some(m.message_id.as_str()));
    assert!(wx.view(|v| v.count("getupdates")) >= 7, "{:?}", wx.counts());
    assert!(running.sink.was_connected());
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_context_token_is_dropped_and_the_send_retried_without_it() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let state = Arc::new(MemState::default());
    state.put(&format!("context_token:{ALICE}"), "a-token-from-long-ago").await.unwrap();
    let adapter = adapter(&wx, cache.path(), state.clone());
    let sent =
        adapter.send(&dm(ALICE), &OutboundOp::Send { text: "still there?".into(), format: TextFormat::Plain }).await;
    sent.unwrap();
    let msgs = wx.sent_to(ALICE);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].context_token, None, "the retry went without the refused token");
    assert_eq!(state.value(&format!("context_token:{ALICE}")).as_deref(), Some(""), "the stale token was dropped");
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_failures_are_reported_in_the_delivery_stages_terms() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let op = OutboundOp::Send { text: "x".into(), format: TextFormat::Plain };
    wx.fail_next("sendmessage", 1, Fault::session_expired());
    match adapter.send(&dm(ALICE), &op).await {
        Err(SendError::Permanent(m)) => assert!(m.contains("herald login weixin"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Transient trouble is retried within the operation.
    wx.fail_next("sendmessage", 2, Fault::http(503));
    adapter.send(&dm(ALICE), &op).await.unwrap();
    // Past the retries it is Transient.
    wx.fail_next("sendmessage", 10, Fault::http(500));
    assert!(matches!(adapter.send(&dm(ALICE), &op).await, Err(SendError::Transient(_))));
    wx.clear_faults();
    for op in [
        OutboundOp::Edit { message_id: "1".into(), text: "x".into(), format: TextFormat::Plain },
        OutboundOp::Delete { message_id: "1".into() },
        OutboundOp::Draft { draft_id: 1, text: "x".into() },
    ] {
        assert!(matches!(adapter.send(&dm(ALICE), &op).await, Err(SendError::Unsupported(_))));
    }
    assert!(matches!(
        adapter.send(&dm(ALICE), &OutboundOp::Send { text: "  ".into(), format: TextFormat::Plain }).await,
        Err(SendError::Permanent(_))
    ));
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dm_allowlist_policy_filters_in_the_adapter() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let s = settings(
        &wx,
        cache.path(),
        Arc::default(),
        &[("WEIXIN_DM_POLICY", "allowlist"), ("WEIXIN_ALLOWED_USERS", ALICE)],
    );
    let adapter: Arc<dyn Adapter> = Arc::new(WeixinAdapter::new(s).unwrap());
    let mut running = Running::start(&adapter);
    wx.inject_text("o9cq80mallory1@im.wechat", "let me in");
    let ok = wx.inject_text(ALICE, "me");
    // The stranger's message came first; the first delivery is Alice's.
    let got = running.next(WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some(ok.message_id.as_str()));
    no_violations(&wx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quoted_image_and_a_malformed_neighbour() {
    crypto();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&wx, cache.path(), Arc::default());
    let mut running = Running::start(&adapter);
    // A message whose item list is not a list is skipped; the next one still arrives.
    wx.inject_raw(json!({"from_user_id": ALICE, "message_type": 1, "item_list": "broken"}));
    let m = wx.inject(&InboundMessage {
        from: ALICE.into(),
        text: Some("what is this?".into()),
        media: None,
        ref_msg: Some(json!({"title": "holiday", "message_item": {"type": 1, "text_item": {"text": "look at this"}}})),
    });
    let got = running.next_in_chat(ALICE, WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some(m.message_id.as_str()));
    assert_eq!(got.text, "[引用: holiday | look at this]\nwhat is this?");
    no_violations(&wx);
}
