//! `herald gateway run` with WeChat, end to end: the real binary against the fake iLink
//! server and the scripted LLM, both on 127.0.0.1.

mod common;

use std::time::Duration;

use common::Herald;
use common::gateway::Gateway;
use herald_testkit::ScriptedLlm;
use herald_testkit::weixin::FakeWeixin;
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(30);
const KEY: &str = "weixin-e2e-key-0123456789";

/// The scripted LLM, the fake iLink server and a herald home pointed at both; with
/// `token`, WeChat is configured by `WEIXIN_TOKEN` (otherwise only a login enables it).
struct Setup {
    llm: ScriptedLlm,
    wx: FakeWeixin,
    h: Herald,
    _locks: tempfile::TempDir,
}

async fn setup(token: bool) -> Setup {
    let llm = ScriptedLlm::start().await;
    let wx = FakeWeixin::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_KEY", KEY);
    h.set("WEIXIN_BASE_URL", &wx.base_url());
    h.set("WEIXIN_CDN_BASE_URL", &wx.cdn_base_url());
    h.set("WEIXIN_DM_POLICY", "open");
    h.set("WEIXIN_ALLOW_ALL_USERS", "true");
    h.set("WEIXIN_SEND_CHUNK_DELAY_SECONDS", "0");
    h.set("HERALD_GATEWAY_LOCK_DIR", &locks.path().display().to_string());
    if token {
        h.set("WEIXIN_TOKEN", wx.token());
    }
    Setup { llm, wx, h, _locks: locks }
}

/// The end of every test: the fake saw no malformed request, and the gateway stops
/// with exit code 0.
async fn stop_cleanly(wx: &FakeWeixin, gw: &mut Gateway) {
    assert!(wx.violations().is_empty(), "protocol violations: {:#?}", wx.violations());
    assert_eq!(gw.stop().await, 0, "stderr: {}", gw.daemon.stderr());
}

async fn answered(wx: &FakeWeixin, user: &str, n: usize) -> Vec<String> {
    let ok = wx.wait_until(|v| v.texts_to(user).len() >= n, WITHIN).await;
    assert!(ok, "no answer to {user}; calls: {:#?}", wx.calls());
    wx.texts_to(user)
}

#[tokio::test]
async fn a_conversation_echoes_the_context_token_of_the_latest_message() {
    let Setup { llm: _llm, wx, mut h, _locks } = setup(true).await;
    let mut gw = Gateway::start(&mut h, &[]).await;
    let user = "o9cq80alice@im.wechat";
    wx.inject_text(user, "first question");
    let texts = answered(&wx, user, 1).await;
    assert!(texts[0].contains("first question"), "the scripted LLM echoes: {texts:?}");
    wx.inject_text(user, "second question");
    let texts = answered(&wx, user, 2).await;
    assert!(texts[1].contains("second question"), "{texts:?}");
    // The fake refuses a reply whose context token is not the latest one it issued to
    // that user, so two accepted replies mean both echoed the right token.
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn a_login_through_the_api_starts_wechat_without_a_restart() {
    let Setup { llm: _llm, wx, mut h, _locks } = setup(false).await;
    let mut gw = Gateway::start(&mut h, &[]).await;
    let started: Value = gw
        .http
        .post(format!("{}/api/platforms/weixin/login", gw.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(started["status"], "wait", "{started}");
    assert!(started["qr_png_base64"].as_str().is_some_and(|p| p.len() > 100), "{started}");
    let id = started["login_id"].as_str().unwrap().to_string();
    let mut last = started.clone();
    for _ in 0..30 {
        last = gw
            .http
            .get(format!("{}/api/platforms/weixin/login/{id}?wait=5", gw.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["status"] == "confirmed" {
            break;
        }
    }
    assert_eq!(last["status"], "confirmed", "{last}");
    assert_eq!(last["user_id"], wx.owner_user_id());
    assert_eq!(last["adapter_started"], true, "{last}");

    let user = "o9cq80bob@im.wechat";
    wx.inject_text(user, "hello after login");
    let texts = answered(&wx, user, 1).await;
    assert!(texts[0].contains("hello after login"), "{texts:?}");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn a_restart_resumes_from_the_stored_cursor_without_loss_or_repeat() {
    let Setup { llm: _llm, wx, mut h, _locks } = setup(true).await;
    let user = "o9cq80carol@im.wechat";

    let mut gw = Gateway::start(&mut h, &[]).await;
    wx.inject_text(user, "before the restart");
    answered(&wx, user, 1).await;
    assert_eq!(gw.stop().await, 0, "stderr: {}", gw.daemon.stderr());

    // Written while no gateway runs: the stored cursor must bring exactly this one.
    wx.inject_text(user, "while it was down");
    let mut gw = Gateway::start(&mut h, &[]).await;
    let texts = answered(&wx, user, 2).await;
    assert!(texts[1].contains("while it was down"), "{texts:?}");
    wx.inject_text(user, "after the restart");
    let texts = answered(&wx, user, 3).await;
    assert!(texts[2].contains("after the restart"), "{texts:?}");
    assert_eq!(texts.len(), 3, "nothing answered twice: {texts:?}");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn an_image_from_the_user_reaches_the_cache_decrypted_byte_for_byte_before_the_turn() {
    use herald_testkit::weixin::{InboundMedia, MediaKind};
    let Setup { llm, wx, mut h, _locks } = setup(true).await;
    let mut gw = Gateway::start(&mut h, &[]).await;
    let user = "o9cq80dave@im.wechat";
    // Not a valid image, on purpose: the bytes must arrive exactly, whatever they are.
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    wx.inject_media(user, InboundMedia::new(MediaKind::Image, bytes.clone()));
    answered(&wx, user, 1).await;
    let images = h.path().join("cache/images");
    let cached: Vec<Vec<u8>> = std::fs::read_dir(&images)
        .unwrap_or_else(|e| panic!("{}: {e}", images.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(cached.contains(&bytes), "the decrypted image is in the cache ({} files)", cached.len());
    assert!(llm.request_count() >= 1, "the turn ran after the download");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn an_image_the_agent_names_reaches_the_cdn_encrypted_and_decryptable() {
    let Setup { llm, wx, mut h, _locks } = setup(true).await;
    let picture = h.path().join("chart.png");
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(&picture, &bytes).unwrap();
    llm.push(herald_testkit::llm::Reply::text(format!("Here is the chart.\nMEDIA:{}", picture.display())));
    let mut gw = Gateway::start(&mut h, &[]).await;
    let user = "o9cq80erin@im.wechat";
    wx.inject_text(user, "draw me a chart");
    let ok = wx.wait_until(|v| v.sent_to(user).len() >= 2, WITHIN).await;
    assert!(ok, "the image and the text; calls: {:#?}", wx.calls());
    let sent = wx.sent_to(user);
    assert_eq!(sent[0].kind, "image", "the file first: {sent:#?}");
    assert_eq!(sent[1].text.as_deref(), Some("Here is the chart."), "the tag left the text: {sent:#?}");
    let param = sent[0].encrypt_query_param.clone().expect("the image names its CDN object");
    let upload = wx.upload(&param).expect("uploaded to the fake CDN");
    assert_ne!(upload.filesize, upload.rawsize, "stored encrypted (padded)");
    assert_eq!(wx.uploaded_bytes(&param).expect("decryptable"), bytes, "decrypts to the file byte for byte");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn a_long_answer_arrives_as_ordered_chunks_each_sent_once() {
    let Setup { llm, wx, mut h, _locks } = setup(true).await;
    let paragraphs: Vec<String> = (0..12).map(|i| format!("Paragraph {i}: {}", "word ".repeat(60).trim())).collect();
    llm.push(herald_testkit::llm::Reply::text(paragraphs.join("\n\n")));
    let mut gw = Gateway::start(&mut h, &[]).await;
    let user = "o9cq80frank@im.wechat";
    wx.inject_text(user, "tell me a long story");
    let ok = wx.wait_until(|v| v.texts_to(user).join("\n").contains("Paragraph 11:"), WITHIN).await;
    assert!(ok, "the whole answer; calls: {:#?}", wx.calls());
    let texts = wx.texts_to(user);
    assert!(texts.len() >= 2, "split into several messages: {texts:?}");
    assert!(texts.iter().all(|t| t.chars().count() <= 2000), "each within WeChat's limit");
    // WeChat's rewrite wraps long lines (as Hermes does), so compare the words.
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let joined = words(&texts.join("\n\n"));
    let mut at = 0;
    for (i, p) in paragraphs.iter().enumerate() {
        assert_eq!(joined.matches(&format!("Paragraph {i}:")).count(), 1, "paragraph {i} sent exactly once");
        let found = joined[at..]
            .find(p.as_str())
            .unwrap_or_else(|| panic!("paragraph {i} missing, cut or out of order: {texts:#?}"));
        at += found + p.len();
    }
    stop_cleanly(&wx, &mut gw).await;
}

/// `/health/detailed`'s entry for WeChat.
async fn weixin_health(gw: &Gateway) -> Value {
    let health: Value = gw
        .http
        .get(format!("{}/health/detailed", gw.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["platforms"]["weixin"].clone()
}

#[tokio::test]
async fn an_expired_session_pauses_polling_visibly_and_recovers() {
    use herald_testkit::weixin::Fault;
    let Setup { llm: _llm, wx, mut h, _locks } = setup(true).await;
    h.set("WEIXIN_SESSION_PAUSE_SECONDS", "3");
    wx.fail_next("getupdates", 1, Fault::session_expired());
    let mut gw = Gateway::start(&mut h, &[]).await;
    let mut paused = Value::Null;
    for _ in 0..100 {
        paused = weixin_health(&gw).await;
        if paused["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(paused["state"], "retrying", "the pause shows in /health/detailed: {paused}");
    let why = paused["error_message"].as_str().unwrap_or_default();
    assert!(why.contains("session expired") && why.contains("herald login weixin"), "{why}");

    // Written during the pause: answered once polling resumes.
    let user = "o9cq80grace@im.wechat";
    wx.inject_text(user, "are you back?");
    let texts = answered(&wx, user, 1).await;
    assert!(texts[0].contains("are you back?"), "{texts:?}");
    assert_eq!(weixin_health(&gw).await["state"], "connected");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn a_cdn_url_outside_the_allowlist_is_never_fetched() {
    let Setup { llm: _llm, wx, mut h, _locks } = setup(true).await;
    // A server on this machine that is not the configured CDN: it counts connections.
    let outside = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/download?x=1", outside.local_addr().unwrap());
    let contacted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = contacted.clone();
    tokio::spawn(async move {
        while outside.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut gw = Gateway::start(&mut h, &[]).await;
    let user = "o9cq80heidi@im.wechat";
    wx.inject_raw(serde_json::json!({
        "from_user_id": user, "to_user_id": wx.bot_id(), "message_type": 1, "create_time_ms": 1,
        "item_list": [
            {"type": 1, "text_item": {"text": "look at this"}},
            {"type": 2, "image_item": {"media": {"full_url": url}}}
        ]
    }));
    let texts = answered(&wx, user, 1).await;
    assert!(texts[0].contains("look at this"), "the text still reaches the agent: {texts:?}");
    assert_eq!(contacted.load(std::sync::atomic::Ordering::SeqCst), 0, "{url} was never contacted");
    let images = h.path().join("cache/images");
    let cached = std::fs::read_dir(&images).map(|d| d.count()).unwrap_or(0);
    assert_eq!(cached, 0, "nothing cached");
    stop_cleanly(&wx, &mut gw).await;
}

#[tokio::test]
async fn a_terminal_login_while_the_gateway_runs_starts_wechat_in_it() {
    let Setup { llm: _llm, wx, mut h, _locks } = setup(false).await;
    let mut gw = Gateway::start(&mut h, &[]).await;
    assert!(weixin_health(&gw).await.is_null(), "no WeChat before the login");
    let login = h.run_with_stdin(&["login", "weixin"], None).await;
    assert_eq!(login.code, 0, "stdout: {}\nstderr: {}", login.stdout, login.stderr);

    let user = "o9cq80ivan@im.wechat";
    wx.inject_text(user, "hello from a terminal login");
    let texts = answered(&wx, user, 1).await;
    assert!(texts[0].contains("hello from a terminal login"), "{texts:?}");
    assert!(gw.daemon.stderr().contains("WeChat started with it"), "{}", gw.daemon.stderr());
    stop_cleanly(&wx, &mut gw).await;
}
