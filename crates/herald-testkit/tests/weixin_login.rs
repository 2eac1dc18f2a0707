//! The fake iLink server's QR login (§B.3), over HTTP with reqwest.

mod wx;

use herald_testkit::weixin::{ConfigPatch, FakeWeixin, QrStep};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use wx::{Bot, fake};

async fn get_qr_post(bot: &Bot, tokens: &[&str]) -> Value {
    let mut h = bot.qr_headers();
    h.insert("Content-Type", HeaderValue::from_static("application/json"));
    let r = bot
        .http
        .post(format!("{}/ilink/bot/get_bot_qrcode?bot_type=3", bot.base))
        .headers(h)
        .body(json!({"local_token_list": tokens}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

async fn status_at(bot: &Bot, base: &str, qrcode: &str, code: Option<&str>) -> (u16, Value) {
    let mut url = format!("{base}/ilink/bot/get_qrcode_status?qrcode={}", wx::enc(qrcode));
    if let Some(c) = code {
        url.push_str(&format!("&verify_code={}", wx::enc(c)));
    }
    let r = bot.http.get(url).headers(bot.qr_headers()).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn status(bot: &Bot, qrcode: &str, code: Option<&str>) -> Value {
    let (s, v) = status_at(bot, &bot.base, qrcode, code).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ret"], 0, "{v}");
    v
}

#[tokio::test]
async fn a_post_qr_goes_wait_scaned_confirmed_with_the_credentials() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let qr = get_qr_post(&bot, &["older@im.bot:x"]).await;
    assert_eq!(qr["ret"], 0);
    let id = qr["qrcode"].as_str().unwrap();
    assert!(qr["qrcode_img_content"].as_str().unwrap().starts_with("https://"));
    assert_eq!(status(&bot, id, None).await["status"], "wait");
    assert_eq!(status(&bot, id, None).await["status"], "scaned");
    let done = status(&bot, id, None).await;
    assert_eq!(done["status"], "confirmed");
    assert_eq!(done["bot_token"], wx.token());
    assert_eq!(done["baseurl"], wx.base_url());
    assert_eq!(done["ilink_bot_id"], wx.bot_id());
    assert_eq!(done["ilink_user_id"], wx.owner_user_id());
    // The token works against the baseurl it names.
    Bot { token: done["bot_token"].as_str().unwrap().into(), ..Bot::new(&wx) }
        .ok("getupdates", json!({"get_updates_buf": ""}))
        .await;
    let logins = wx.qr_logins();
    assert_eq!(logins[0].method, "POST");
    assert_eq!(logins[0].local_token_list.as_deref(), Some(&["older@im.bot:x".to_string()][..]));
    assert_eq!(logins[0].answered, ["wait", "scaned", "confirmed"]);
}

#[tokio::test]
async fn the_old_get_works_and_a_known_token_is_binded_redirect() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let r = bot
        .http
        .get(format!("{}/ilink/bot/get_bot_qrcode?bot_type=3", bot.base))
        .headers(bot.qr_headers())
        .send()
        .await
        .unwrap();
    let qr: Value = r.json().await.unwrap();
    assert!(qr["qrcode"].is_string());
    assert_eq!(wx.qr_logins()[0].method, "GET");

    let qr = get_qr_post(&bot, &[wx.token()]).await;
    assert_eq!(status(&bot, qr["qrcode"].as_str().unwrap(), None).await["status"], "binded_redirect");
}

#[tokio::test]
async fn a_verify_code_is_checked_and_too_many_wrong_ones_block() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let code = || QrStep::NeedVerifycode { code: "4821".into() };
    wx.script_next_qr(vec![QrStep::Scaned, code(), QrStep::Scaned, QrStep::Confirmed]);
    wx.script_next_qr(vec![code()]);
    let qr = get_qr_post(&bot, &[]).await;
    let id = qr["qrcode"].as_str().unwrap();
    assert_eq!(status(&bot, id, None).await["status"], "scaned");
    assert_eq!(status(&bot, id, None).await["status"], "need_verifycode");
    assert_eq!(status(&bot, id, Some("0000")).await["status"], "need_verifycode");
    assert_eq!(status(&bot, id, Some("4821")).await["status"], "scaned");
    assert_eq!(status(&bot, id, None).await["status"], "confirmed");
    assert_eq!(wx.qr_logins().iter().find(|q| q.qrcode == id).unwrap().verify_codes, ["0000", "4821"]);

    wx.set_config(&ConfigPatch { verify_attempts: Some(2), ..ConfigPatch::default() });
    let qr = get_qr_post(&bot, &[]).await;
    let id = qr["qrcode"].as_str().unwrap();
    assert_eq!(status(&bot, id, Some("1")).await["status"], "need_verifycode");
    assert_eq!(status(&bot, id, Some("2")).await["status"], "verify_code_blocked");
    // Blocked for good, even with the right code.
    assert_eq!(status(&bot, id, Some("4821")).await["status"], "verify_code_blocked");
}

#[tokio::test]
async fn a_redirect_names_the_second_listener_which_serves_the_same_login() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.script_next_qr(vec![QrStep::ScanedButRedirect, QrStep::Confirmed]);
    let qr = get_qr_post(&bot, &[]).await;
    let id = qr["qrcode"].as_str().unwrap();
    let v = status(&bot, id, None).await;
    assert_eq!(v["status"], "scaned_but_redirect");
    let host = v["redirect_host"].as_str().unwrap();
    assert_eq!(host, wx.redirect_host());
    let (s, done) = status_at(&bot, &format!("http://{host}"), id, None).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("confirmed")));
    let polls = wx.calls_of("get_qrcode_status");
    assert_eq!(polls.iter().map(|c| c.listener.as_str()).collect::<Vec<_>>(), ["main", "redirect"]);
}

#[tokio::test]
async fn expired_and_unknown_codes_and_rescripting() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.script_next_qr(vec![QrStep::Wait, QrStep::Expired]);
    let id = get_qr_post(&bot, &[]).await["qrcode"].as_str().unwrap().to_string();
    assert_eq!(status(&bot, &id, None).await["status"], "wait");
    assert_eq!(status(&bot, &id, None).await["status"], "expired");
    assert_eq!(status(&bot, &id, None).await["status"], "expired");
    assert!(wx.script_qr(&id, vec![QrStep::VerifyCodeBlocked]));
    assert_eq!(status(&bot, &id, None).await["status"], "verify_code_blocked");
    assert_eq!(status(&bot, "never-issued", None).await["status"], "expired");
    assert!(!wx.script_qr("never-issued", vec![QrStep::Wait]));
}

#[tokio::test]
async fn qr_requests_are_checked() {
    let wx = FakeWeixin::start().await;
    let bot = Bot::new(&wx);
    let get = |url: String| bot.http.get(url).headers(bot.qr_headers());
    // No bot_type.
    let r = get(format!("{}/ilink/bot/get_bot_qrcode", bot.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // A token on a login call.
    let r = get(format!("{}/ilink/bot/get_bot_qrcode?bot_type=3", bot.base))
        .header("Authorization", format!("Bearer {}", wx.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // No app headers.
    let r = bot.http.get(format!("{}/ilink/bot/get_qrcode_status?qrcode=x", bot.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // No qrcode.
    let (s, _) = status_at(&bot, &bot.base, "", None).await;
    assert_eq!(s, 400);
    // A POST body that is not the token list.
    let mut h = bot.qr_headers();
    h.insert("Content-Type", HeaderValue::from_static("application/json"));
    let r = bot
        .http
        .post(format!("{}/ilink/bot/get_bot_qrcode?bot_type=3", bot.base))
        .headers(h)
        .body(r#"{"local_token_list":"abc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(wx.violations().len(), 5);
    assert!(wx.qr_logins().is_empty());
}
