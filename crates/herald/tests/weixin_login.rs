//! `herald login weixin` through the real binary against the fake iLink server: the QR
//! is drawn and written as a PNG, a verification code is asked for and sent, and the
//! confirmed account is saved 0600 where the gateway reads it.

mod common;

use common::Herald;
use herald_testkit::weixin::{FakeWeixin, QrStep};

#[tokio::test]
async fn a_terminal_login_with_a_verification_code_saves_the_account() {
    let wx = FakeWeixin::start().await;
    wx.script_next_qr(vec![
        QrStep::Wait,
        QrStep::Scaned,
        QrStep::NeedVerifycode { code: "482913".into() },
        QrStep::Confirmed,
    ]);
    let mut herald = Herald::bare();
    herald.set("WEIXIN_BASE_URL", &wx.base_url());
    // A wrong code first: WeChat asks again, and the second one is accepted.
    let run = herald.run_with_stdin(&["login", "weixin"], Some("111111\n482913\n")).await;
    assert_eq!(run.code, 0, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Scan this QR code with WeChat"), "{}", run.stdout);
    assert!(run.stdout.contains('█') || run.stdout.contains('▀'), "the QR is drawn: {}", run.stdout);
    assert!(run.stdout.contains("That code was not accepted."), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("Logged in: bot {}", wx.bot_id())), "{}", run.stdout);

    let stem = wx.bot_id().replace(['@', '.'], "-");
    let file = herald.path().join("accounts/weixin").join(format!("{stem}.json"));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("account file")).unwrap();
    assert_eq!(saved["account_id"], wx.bot_id());
    assert_eq!(saved["token"], wx.token());
    assert_eq!(saved["user_id"], wx.owner_user_id());
    assert!(saved["base_url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!run.stdout.contains(wx.token()) && !run.stderr.contains(wx.token()), "the token is never printed");
    assert!(wx.violations().is_empty(), "protocol violations: {:?}", wx.violations());
}

#[tokio::test]
async fn an_unreachable_login_server_is_named_in_the_error() {
    let mut herald = Herald::bare();
    herald.set("WEIXIN_BASE_URL", &format!("http://127.0.0.1:{}", common::free_port()));
    let run = herald.run(&["login", "weixin"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("could not reach the WeChat login server http://127.0.0.1:"), "{}", run.stderr);
}
