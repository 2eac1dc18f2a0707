//! The fake iLink server's control interface through its typed client, the standalone
//! `herald-testkit-weixin` process, and the conformance harness's view of the fake.

mod wx;

use std::process::Stdio;
use std::time::Duration;

use herald_core::ChatType;
use herald_testkit::conformance::ConformanceHarness;
use herald_testkit::weixin::{
    ConfigPatch, ControlError, Fault, InboundMedia, InboundMessage, MediaKind, QrStep, WeixinControl, WeixinHarness,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wx::{Bot, encrypt, fake, md5_hex};

const ALICE: &str = "o9cq80alice0001@im.wechat";

#[tokio::test]
async fn the_typed_client_drives_everything() {
    let wx = fake().await;
    let ctl = wx.control();
    let bot = Bot::new(&wx);
    let info = ctl.info().await.unwrap();
    assert_eq!(info.base_url, wx.base_url());
    assert_eq!(info.cdn_base_url, format!("{}/c2c", wx.base_url()));
    assert_eq!(info.token, wx.token());
    assert!(info.token.starts_with(&format!("{}:", info.bot_id)));
    assert_eq!(info.redirect_host, wx.redirect_host());

    let config = ctl.set_config(&ConfigPatch { longpolling_timeout_ms: Some(1234), ..ConfigPatch::default() }).await;
    assert_eq!(config.unwrap().longpolling_timeout_ms, 1234);
    assert_eq!(ctl.config().await.unwrap().longpolling_timeout_ms, 1234);

    let injected = ctl.inject_text(ALICE, "hi").await.unwrap();
    let image = ctl.inject(&InboundMessage::media(ALICE, InboundMedia::new(MediaKind::Image, b"img".to_vec()))).await;
    let image = image.unwrap();
    assert!(image.encrypt_query_param.is_some() && image.aes_key_hex.as_deref().map(str::len) == Some(32));
    let raw = ctl.inject_raw(&json!({"from_user_id": ALICE, "item_list": []})).await.unwrap();
    assert_eq!(raw.seq, 3);
    let (msgs, _, answer) = bot.poll("").await;
    assert_eq!((msgs.len(), answer["longpolling_timeout_ms"].as_u64()), (3, Some(1234)));

    // wait_sent: held until the send arrives. The newest message's token is the one to echo.
    assert_ne!(injected.context_token, raw.context_token);
    let token = raw.context_token.clone();
    let sender = tokio::spawn(async move { bot.ok("sendmessage", Bot::text_msg(ALICE, "reply", Some(&token))).await });
    let sent = ctl.wait_sent(Some(ALICE), 1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(sent[0].text.as_deref(), Some("reply"));
    assert_eq!(sent[0].context_token.as_deref(), Some(raw.context_token.as_str()));
    sender.await.unwrap();
    assert!(ctl.sent(Some("nobody@im.wechat")).await.unwrap().is_empty());
    assert_eq!(ctl.sent(None).await.unwrap().len(), 1);

    let bot = Bot::new(&wx);
    ctl.fail("sendmessage", 1, &Fault::minus2("unknown error")).await.unwrap();
    let v = bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "x", None)).await;
    assert_eq!(v["errmsg"], "unknown error");
    ctl.fail("getconfig", 3, &Fault::http(503)).await.unwrap();
    ctl.clear_faults().await.unwrap();
    bot.ok("getconfig", json!({"ilink_user_id": ALICE})).await;
    match ctl.fail("nosuch", 1, &Fault::EmptyBody).await {
        Err(ControlError::Status { status: 400, message }) => {
            assert!(message.contains("unknown endpoint"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    ctl.throttle(ALICE).await.unwrap();
    assert_eq!(bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "x", None)).await["ret"], -2);
    ctl.release(ALICE).await.unwrap();
    bot.ok("sendmessage", Bot::text_msg(ALICE, "x", None)).await;

    let ticket = bot.ok("getconfig", json!({"ilink_user_id": ALICE})).await["typing_ticket"].clone();
    bot.ok("sendtyping", json!({"ilink_user_id": ALICE, "typing_ticket": ticket, "status": 1})).await;
    assert_eq!(ctl.typing(Some(ALICE)).await.unwrap().len(), 1);
    assert!(ctl.typing(Some("nobody")).await.unwrap().is_empty());

    // An upload, read back decrypted.
    let plain = b"uploaded by the bot".to_vec();
    let key: [u8; 16] = rand::random();
    let filekey = hex::encode(rand::random::<[u8; 16]>());
    let cipher = encrypt(&key, &plain);
    let up = bot
        .ok(
            "getuploadurl",
            json!({"filekey": filekey, "media_type": 3, "to_user_id": ALICE, "rawsize": plain.len(),
                   "rawfilemd5": md5_hex(&plain), "filesize": cipher.len(), "no_need_thumb": true,
                   "aeskey": hex::encode(key)}),
        )
        .await;
    let url = format!(
        "{}/upload?encrypted_query_param={}&filekey={filekey}",
        bot.cdn,
        wx::enc(up["upload_param"].as_str().unwrap())
    );
    let r = bot.http.post(url).header("Content-Type", "application/octet-stream").body(cipher).send().await.unwrap();
    let param = r.headers()["x-encrypted-param"].to_str().unwrap().to_string();
    assert_eq!(ctl.uploaded_bytes(&param).await.unwrap(), Some(plain.clone()));
    assert_eq!(ctl.uploaded_bytes("nothing").await.unwrap(), None);
    assert_eq!(ctl.uploads().await.unwrap()[0].plain.as_deref(), Some(&plain[..]));

    ctl.script_next_qr(&[QrStep::Expired]).await.unwrap();
    let r = bot
        .http
        .get(format!("{}/ilink/bot/get_bot_qrcode?bot_type=3", bot.base))
        .headers(bot.qr_headers())
        .send()
        .await
        .unwrap();
    let qrcode = r.json::<serde_json::Value>().await.unwrap()["qrcode"].as_str().unwrap().to_string();
    ctl.script_qr(&qrcode, &[QrStep::Confirmed]).await.unwrap();
    assert!(ctl.script_qr("never", &[QrStep::Wait]).await.is_err());
    assert_eq!(ctl.qr_logins().await.unwrap()[0].steps, [QrStep::Confirmed]);

    let counts = ctl.counts().await.unwrap();
    assert_eq!(counts.get("cdn_upload"), Some(&1));
    assert_eq!(ctl.calls(Some("getuploadurl")).await.unwrap().len(), 1);
    assert!(ctl.violations().await.unwrap().is_empty(), "{:?}", ctl.violations().await);
    let status = ctl.status().await.unwrap();
    assert_eq!((status["inbox"].as_u64(), status["waiting_polls"].as_u64()), (Some(3), Some(0)));
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves_the_control_interface() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-testkit-weixin"))
        .args(["--port", "0", "--poll-hold-ms", "100", "--route-tag", "77"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn herald-testkit-weixin");
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).await.unwrap();
    let base = first.trim_end().strip_prefix("listening on ").unwrap_or_else(|| panic!("{first:?}")).to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let ctl = WeixinControl::new(&base);
    let info = ctl.info().await.unwrap();
    assert_eq!(info.base_url, base);
    assert_eq!(info.route_tag.as_deref(), Some("77"));
    assert_eq!(ctl.config().await.unwrap().poll_hold_ms, 100);
    ctl.inject_text(ALICE, "from another process").await.unwrap();
    assert_eq!(ctl.status().await.unwrap()["inbox"], 1);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test]
async fn the_binary_reports_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_herald-testkit-weixin")).args(["--port", &port]).output();
    let output = output.await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on 127.0.0.1:"));
}

#[tokio::test]
async fn the_harness_sees_what_the_fake_sees() {
    let wx = fake().await;
    let h = WeixinHarness::new(&wx);
    let bot = Bot::new(&wx);
    let chat = h.open_dm(7).await;
    assert_eq!(chat, WeixinHarness::user(7));
    assert!(h.inject_group_text(1, 7, "groups are not delivered").await.is_none());
    let want = h.inject_dm_text(7, "hello").await;
    assert_eq!((want.chat_type, want.user_id.as_str(), want.user_name.as_deref()), (ChatType::Dm, chat.as_str(), None));
    let (msgs, _, _) = bot.poll("").await;
    assert_eq!(msgs[0]["message_id"].as_u64().unwrap().to_string(), want.message_id);

    // A caption goes as a text right before the media; the harness joins them.
    let caption = bot.ok("sendmessage", Bot::text_msg(&chat, "a caption", None)).await;
    let plain = b"jpeg".to_vec();
    let key: [u8; 16] = rand::random();
    let filekey = hex::encode(rand::random::<[u8; 16]>());
    let cipher = encrypt(&key, &plain);
    let up = bot
        .ok(
            "getuploadurl",
            json!({"filekey": filekey, "media_type": 1, "to_user_id": chat, "rawsize": plain.len(),
                   "rawfilemd5": md5_hex(&plain), "filesize": cipher.len(), "no_need_thumb": true,
                   "aeskey": hex::encode(key)}),
        )
        .await;
    let url = format!(
        "{}/upload?encrypted_query_param={}&filekey={filekey}",
        bot.cdn,
        wx::enc(up["upload_param"].as_str().unwrap())
    );
    let r = bot.http.post(url).header("Content-Type", "application/octet-stream").body(cipher).send().await.unwrap();
    let param = r.headers()["x-encrypted-param"].to_str().unwrap().to_string();
    let media = json!({"encrypt_query_param": param, "encrypt_type": 1,
        "aes_key": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hex::encode(key))});
    let mut body = Bot::text_msg(&chat, "unused", None);
    body["msg"]["item_list"] = json!([{"type": 2, "image_item": {"media": media, "mid_size": 16}}]);
    let photo = bot.ok("sendmessage", body).await;

    let records = h.sent(&chat).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].message_id, caption["message_id"].as_u64().unwrap().to_string());
    assert_eq!((records[0].kind.as_str(), records[0].text.as_str()), ("text", "a caption"));
    assert_eq!(records[1].message_id, photo["message_id"].as_u64().unwrap().to_string());
    assert_eq!((records[1].kind.as_str(), records[1].text.as_str()), ("photo", "a caption"));

    assert!(!h.typing_seen(&chat).await);
    let ticket = bot.ok("getconfig", json!({"ilink_user_id": chat})).await["typing_ticket"].clone();
    bot.ok("sendtyping", json!({"ilink_user_id": chat, "typing_ticket": ticket, "status": 1})).await;
    assert!(h.typing_seen(&chat).await);
    assert!(h.drafts(&chat).await.is_empty());

    h.throttle(&chat).await;
    assert_eq!(bot.ok_or_ret("sendmessage", Bot::text_msg(&chat, "x", None)).await["ret"], -2);
    h.release(&chat).await;
    bot.ok("sendmessage", Bot::text_msg(&chat, "x", None)).await;
}
