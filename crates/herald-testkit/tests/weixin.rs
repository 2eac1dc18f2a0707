//! The fake iLink server's bot API, over HTTP with reqwest, as a bot would see it:
//! `getupdates`, `sendmessage`, typing, notify, the request checks and injected faults.

mod wx;

use herald_testkit::weixin::{ConfigPatch, Fault, InboundMessage};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use wx::{Bot, fake};

const ALICE: &str = "o9cq80alice0001@im.wechat";
const BOB: &str = "o9cq80bob00002@im.wechat";

#[tokio::test]
async fn getupdates_delivers_after_the_cursor_with_the_reference_shape() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let first = wx.inject_text(ALICE, "hello");
    let second = wx.inject_text(BOB, "你好");

    let (msgs, cursor, answer) = bot.poll("").await;
    assert_eq!(answer["longpolling_timeout_ms"], 35_000);
    assert_eq!(msgs.len(), 2);
    let m = &msgs[0];
    assert_eq!(m["from_user_id"], ALICE);
    assert_eq!(m["to_user_id"], wx.bot_id());
    assert_eq!(m["message_type"], 1);
    assert_eq!(m["message_state"], 2);
    assert_eq!(m["seq"], 1);
    assert_eq!(m["context_token"], first.context_token.as_str());
    assert_eq!(m["item_list"], json!([{"type": 1, "text_item": {"text": "hello"}}]));
    assert!(m["create_time_ms"].as_u64().unwrap() > 0);
    assert_eq!(msgs[1]["item_list"][0]["text_item"]["text"], "你好");
    // The uint64 id above 2^53 is exact on the wire.
    assert_eq!(m["message_id"].as_u64().unwrap().to_string(), first.message_id);
    assert!(first.message_id.parse::<u64>().unwrap() > 1 << 53);
    assert_ne!(first.message_id, second.message_id);
    assert!(!cursor.is_empty());

    // Nothing new: the poll is held, then answers nothing and the same cursor.
    let (none, same, _) = bot.poll(&cursor).await;
    assert!(none.is_empty());
    assert_eq!(same, cursor);

    // An old cursor gets the messages again (the client decides what it confirmed).
    let (again, _, _) = bot.poll("").await;
    assert_eq!(again.len(), 2);

    wx.inject_text(ALICE, "third");
    let (third, next, _) = bot.poll(&cursor).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0]["item_list"][0]["text_item"]["text"], "third");
    assert_ne!(next, cursor);
}

#[tokio::test]
async fn a_long_poll_is_held_until_a_message_arrives() {
    let wx = fake().await;
    wx.set_config(&ConfigPatch { poll_hold_ms: Some(60_000), ..ConfigPatch::default() });
    let bot = Bot::new(&wx);
    let poll = tokio::spawn(async move { bot.poll("").await });
    assert!(wx.wait_until(|v| v.waiting_polls() == 1, std::time::Duration::from_secs(20)).await);
    wx.inject_text(ALICE, "wake up");
    let (msgs, _, _) = poll.await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["item_list"][0]["text_item"]["text"], "wake up");
    assert!(wx.wait_until(|v| v.waiting_polls() == 0, std::time::Duration::from_secs(20)).await);
}

#[tokio::test]
async fn batches_are_limited_and_the_suggested_timeout_is_configurable() {
    let wx = fake().await;
    wx.set_config(&ConfigPatch { batch_limit: Some(2), longpolling_timeout_ms: Some(5000), ..ConfigPatch::default() });
    let bot = Bot::new(&wx);
    for i in 0..3 {
        wx.inject_text(ALICE, &format!("m{i}"));
    }
    let (a, cursor, answer) = bot.poll("").await;
    assert_eq!(a.len(), 2);
    assert_eq!(answer["longpolling_timeout_ms"], 5000);
    let (b, _, _) = bot.poll(&cursor).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["item_list"][0]["text_item"]["text"], "m2");
}

#[tokio::test]
async fn a_foreign_or_missing_cursor_is_refused() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let (status, v) = bot.post("getupdates", json!({"get_updates_buf": "not-ours"})).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["errmsg"].as_str().unwrap().contains("get_updates_buf"), "{v}");
    let (status, _) = bot.post("getupdates", json!({})).await;
    assert_eq!(status, 400);
    // The deprecated name still works.
    wx.inject_text(ALICE, "x");
    let (status, v) = bot.post("getupdates", json!({"sync_buf": ""})).await;
    assert_eq!((status, v["msgs"].as_array().unwrap().len()), (200, 1));
    assert_eq!(wx.violations().len(), 2);
}

#[tokio::test]
async fn sendmessage_records_text_and_echoes_the_latest_context_token() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.inject_text(ALICE, "one");
    let newer = wx.inject_text(ALICE, "two");
    bot.poll("").await;

    let body = Bot::text_msg(ALICE, "reply", Some(&newer.context_token));
    let v = bot.ok("sendmessage", body.clone()).await;
    let id = v["message_id"].as_u64().unwrap().to_string();
    let sent = wx.sent_to(ALICE);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, id);
    assert_eq!(sent[0].kind, "text");
    assert_eq!(sent[0].text.as_deref(), Some("reply"));
    assert_eq!(sent[0].context_token.as_deref(), Some(newer.context_token.as_str()));
    assert_eq!(sent[0].client_id, body["msg"]["client_id"].as_str().unwrap());
    assert_eq!(wx.texts_to(ALICE), ["reply"]);

    // The same client_id again is a client bug.
    let (status, v) = bot.post("sendmessage", body).await;
    assert_eq!(status, 400);
    assert!(v["errmsg"].as_str().unwrap().contains("client_id"), "{v}");

    // A token that is not the newest one delivered is stale.
    let stale = wx.sent_to(ALICE).len();
    let v = bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "old token", Some("not-a-token"))).await;
    assert_eq!((v["ret"].as_i64(), v["errmsg"].as_str()), (Some(-2), Some("prepare failed")));
    assert_eq!(wx.sent_to(ALICE).len(), stale);

    // No token at all: accepted, degraded, unless the fake is told to refuse it.
    bot.ok("sendmessage", Bot::text_msg(BOB, "no token", None)).await;
    assert_eq!(wx.sent_to(BOB)[0].context_token, None);
    wx.set_config(&ConfigPatch { require_context_token: Some(true), ..ConfigPatch::default() });
    let v = bot.ok_or_ret("sendmessage", Bot::text_msg(BOB, "no token", None)).await;
    assert_eq!(v["ret"], -2);
}

#[tokio::test]
async fn a_token_not_yet_delivered_is_stale() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let injected = wx.inject_text(ALICE, "unpolled");
    let v = bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "r", Some(&injected.context_token))).await;
    assert_eq!((v["ret"].as_i64(), v["errmsg"].as_str()), (Some(-2), Some("prepare failed")));
    bot.poll("").await;
    bot.ok("sendmessage", Bot::text_msg(ALICE, "r", Some(&injected.context_token))).await;
}

#[tokio::test]
async fn malformed_messages_are_refused_and_say_why() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        ("item_list has 2 items", Box::new(|m| m["item_list"] = json!([m["item_list"][0], m["item_list"][0]]))),
        ("message_type", Box::new(|m| m["message_type"] = json!(1))),
        ("message_state", Box::new(|m| m["message_state"] = json!(1))),
        ("client_id is missing", Box::new(|m| drop(m.as_object_mut().unwrap().remove("client_id")))),
        ("to_user_id is empty", Box::new(|m| m["to_user_id"] = json!(""))),
        ("text is empty", Box::new(|m| m["item_list"][0]["text_item"]["text"] = json!(""))),
        ("from_user_id", Box::new(|m| m["from_user_id"] = json!(ALICE))),
        ("item type 7", Box::new(|m| m["item_list"][0]["type"] = json!(7))),
        ("no text_item", Box::new(|m| drop(m["item_list"][0].as_object_mut().unwrap().remove("text_item")))),
        ("no image_item", Box::new(|m| m["item_list"][0]["type"] = json!(2))),
    ];
    for (needle, change) in cases {
        let mut body = Bot::text_msg(ALICE, "x", None);
        change(&mut body["msg"]);
        let (status, v) = bot.post("sendmessage", body).await;
        assert_eq!(status, 400, "{needle}: {v}");
        let errmsg = v["errmsg"].as_str().unwrap();
        assert!(errmsg.starts_with("fake iLink: ") && errmsg.contains(needle), "{needle}: {errmsg}");
    }
    let (status, _) = bot.post("sendmessage", json!({})).await;
    assert_eq!(status, 400);
    assert!(wx.sent().is_empty());
    assert_eq!(wx.violations().len(), 11);
}

#[tokio::test]
async fn every_header_is_checked() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    for name in ["AuthorizationType", "Authorization", "X-WECHAT-UIN", "iLink-App-Id", "iLink-App-ClientVersion"] {
        let mut h = bot.headers();
        h.remove(name);
        let (status, v) = bot.post_with("getupdates", h, json!({"get_updates_buf": ""})).await;
        assert_eq!(status, 400, "{name}: {v}");
        assert!(v["errmsg"].as_str().unwrap().contains(name), "{name}: {v}");
    }
    // A reused UIN.
    let h = bot.headers();
    assert_eq!(bot.post_with("getupdates", h.clone(), json!({"get_updates_buf": ""})).await.0, 200);
    let (status, v) = bot.post_with("getupdates", h, json!({"get_updates_buf": ""})).await;
    assert_eq!(status, 400);
    assert!(v["errmsg"].as_str().unwrap().contains("fresh"), "{v}");
    // A wrong token is a stale session, not a malformed request.
    let mut h = bot.headers();
    h.insert("Authorization", HeaderValue::from_static("Bearer someone@im.bot:else"));
    let (status, v) = bot.post_with("getupdates", h, json!({"get_updates_buf": ""})).await;
    assert_eq!((status, v["ret"].as_i64(), v["errcode"].as_i64()), (200, Some(-14), Some(-14)));
    // base_info is required.
    let (status, v) = bot.post("getupdates", json!({"get_updates_buf": "", "base_info": {}})).await;
    assert_eq!(status, 400, "{v}");
    // GET on a POST endpoint; an unknown path.
    let r = bot.http.get(format!("{}/ilink/bot/sendmessage", bot.base)).headers(bot.headers()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = bot.http.post(format!("{}/ilink/bot/nosuch", bot.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let calls = wx.calls();
    assert!(calls.iter().any(|c| c.endpoint == "/ilink/bot/nosuch" && c.status == 404));
}

#[tokio::test]
async fn the_route_tag_is_required_when_configured() {
    let options = herald_testkit::weixin::FakeOptions { route_tag: Some("1001".into()), ..Default::default() };
    let wx = herald_testkit::weixin::FakeWeixin::start_with(options).await.unwrap();
    wx.set_config(&ConfigPatch { poll_hold_ms: Some(100), ..ConfigPatch::default() });
    let bot = Bot::new(&wx);
    let (status, _) = bot.post("getupdates", json!({"get_updates_buf": ""})).await;
    assert_eq!(status, 400);
    let mut h = bot.headers();
    h.insert("SKRouteTag", HeaderValue::from_static("1001"));
    assert_eq!(bot.post_with("getupdates", h, json!({"get_updates_buf": ""})).await.0, 200);
}

#[tokio::test]
async fn typing_needs_a_ticket_issued_for_the_user() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let v = bot.ok("getconfig", json!({"ilink_user_id": ALICE, "context_token": "t"})).await;
    let ticket = v["typing_ticket"].as_str().unwrap().to_string();
    assert!(!ticket.is_empty());
    bot.ok("sendtyping", json!({"ilink_user_id": ALICE, "typing_ticket": ticket, "status": 1})).await;
    bot.ok("sendtyping", json!({"ilink_user_id": ALICE, "typing_ticket": ticket, "status": 2})).await;
    let events = wx.typing();
    assert_eq!(events.iter().map(|e| e.status).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(events[0].ilink_user_id, ALICE);

    let (status, _) = bot.post("sendtyping", json!({"ilink_user_id": BOB, "typing_ticket": ticket, "status": 1})).await;
    assert_eq!(status, 400);
    let (status, _) =
        bot.post("sendtyping", json!({"ilink_user_id": ALICE, "typing_ticket": ticket, "status": 3})).await;
    assert_eq!(status, 400);
    let (status, _) = bot.post("getconfig", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(wx.typing().len(), 2);
}

#[tokio::test]
async fn notify_start_and_stop() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    bot.ok("msg/notifystart", json!({})).await;
    assert!(wx.view(|v| v.notify_started()));
    bot.ok("msg/notifystop", json!({})).await;
    assert!(!wx.view(|v| v.notify_started()));
    assert_eq!(wx.counts().get("notifystart"), Some(&1));
    assert_eq!(wx.counts().get("notifystop"), Some(&1));
}

#[tokio::test]
async fn injected_faults_answer_once_each_then_the_endpoint_works() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.fail_next("getupdates", 2, Fault::session_expired());
    for _ in 0..2 {
        let v = bot.ok_or_ret("getupdates", json!({"get_updates_buf": ""})).await;
        assert_eq!((v["ret"].as_i64(), v["errcode"].as_i64()), (Some(-14), Some(-14)));
    }
    bot.poll("").await;

    for errmsg in ["", "prepare failed", "unknown error"] {
        wx.fail_next("sendmessage", 1, Fault::minus2(errmsg));
        let v = bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "x", None)).await;
        assert_eq!((v["ret"].as_i64(), v["errmsg"].as_str()), (Some(-2), Some(errmsg)));
    }
    assert!(wx.sent().is_empty(), "a failed send is not recorded");

    wx.fail_next("sendmessage", 1, Fault::http(500));
    let (status, _) = bot.post("sendmessage", Bot::text_msg(ALICE, "x", None)).await;
    assert_eq!(status, 500);
    wx.fail_next("sendmessage", 1, Fault::EmptyBody);
    let (status, v) = bot.post("sendmessage", Bot::text_msg(ALICE, "x", None)).await;
    assert_eq!((status, v), (200, json!("")));
    wx.fail_next("sendmessage", 1, Fault::delay(std::time::Duration::from_millis(50)));
    bot.ok("sendmessage", Bot::text_msg(ALICE, "after a delay", None)).await;
    assert_eq!(wx.texts_to(ALICE), ["after a delay"]);

    // Requests with malformed headers or envelope are refused whatever faults are
    // queued, and do not use them up.
    wx.fail_next("getconfig", 1, Fault::http(502));
    let (status, _) = bot.post("getconfig", json!({"ilink_user_id": ALICE, "base_info": {}})).await;
    assert_eq!(status, 400);
    let (status, _) = bot.post("getconfig", json!({"ilink_user_id": ALICE})).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn a_throttled_peer_gets_minus_2() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.throttle(ALICE);
    let v = bot.ok_or_ret("sendmessage", Bot::text_msg(ALICE, "x", None)).await;
    assert_eq!((v["ret"].as_i64(), v["errmsg"].as_str()), (Some(-2), Some("")));
    bot.ok("sendmessage", Bot::text_msg(BOB, "others are fine", None)).await;
    wx.release(ALICE);
    bot.ok("sendmessage", Bot::text_msg(ALICE, "after", None)).await;
}

#[tokio::test]
async fn raw_messages_keep_their_shape() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let raw = json!({
        "from_user_id": ALICE, "message_id": "18446744073709551615", "message_type": 1,
        "item_list": [{"type": 1, "text_item": {"text": "q"}, "ref_msg": {"title": "t", "svr_id": "1"}}],
        "unknown_field": {"x": 1},
    });
    let injected = wx.inject_raw(raw);
    assert_eq!(injected.message_id, "18446744073709551615");
    let quoted = wx.inject(&InboundMessage {
        ref_msg: Some(json!({"title": "earlier", "message_item": {"type": 1, "text_item": {"text": "before"}}})),
        ..InboundMessage::text(ALICE, "quoting")
    });
    let (msgs, _, _) = bot.poll("").await;
    assert_eq!(msgs[0]["message_id"], "18446744073709551615");
    assert_eq!(msgs[0]["unknown_field"], json!({"x": 1}));
    assert_eq!(msgs[0]["context_token"], injected.context_token.as_str());
    assert_eq!(msgs[1]["item_list"][0]["ref_msg"]["title"], "earlier");
    assert_eq!(msgs[1]["seq"], quoted.seq);
}
