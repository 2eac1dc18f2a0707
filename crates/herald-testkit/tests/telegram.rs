//! The fake Telegram server's own rules, over HTTP with reqwest, as a bot would see them.

use std::time::Duration;

use herald_testkit::telegram::{FakeOptions, FakeTelegram, Fault, RateLimit, TgUser};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

struct Bot {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Bot {
    fn new(tg: &FakeTelegram) -> Bot {
        Bot { http: client(), base: tg.base_url(), token: tg.token().to_string() }
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.base, self.token)
    }

    /// POSTs JSON; returns the status and the envelope.
    async fn call(&self, method: &str, body: Value) -> (u16, Value) {
        let resp = self.http.post(self.url(method)).json(&body).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn ok(&self, method: &str, body: Value) -> Value {
        let (status, v) = self.call(method, body.clone()).await;
        assert_eq!(status, 200, "{method} {body}: {v}");
        assert_eq!(v["ok"], true);
        v["result"].clone()
    }

    async fn err(&self, method: &str, body: Value) -> (u16, String) {
        let (status, v) = self.call(method, body).await;
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["error_code"], status, "{v}");
        (status, v["description"].as_str().unwrap().to_string())
    }
}

async fn setup() -> (FakeTelegram, Bot, TgUser) {
    let tg = FakeTelegram::start().await;
    let bot = Bot::new(&tg);
    let alice = TgUser::new(1001, "Alice");
    tg.private_text(&alice, "hi");
    (tg, bot, alice)
}

#[tokio::test]
async fn get_me_and_the_token() {
    let (tg, bot, _) = setup().await;
    let me = bot.ok("getMe", json!({})).await;
    assert_eq!(me["is_bot"], true);
    assert_eq!(me["username"], "herald_test_bot");
    // GET with a query works too, and method names are case-insensitive.
    let v: Value = bot.http.get(bot.url("getme")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["result"]["id"], me["id"]);
    let resp = bot.http.post(format!("{}/bot123:wrong/getMe", tg.base_url())).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    assert_eq!(bot.err("noSuchMethod", json!({})).await, (404, "Not Found".into()));
    // Calls with a wrong token are not the bot's and are not recorded.
    assert_eq!(tg.calls().len(), 3);
}

#[tokio::test]
async fn updates_are_confirmed_by_offset() {
    let (tg, bot, alice) = setup().await;
    tg.private_text(&alice, "second");
    let updates = bot.ok("getUpdates", json!({"timeout": 0})).await;
    let ids: Vec<i64> = updates.as_array().unwrap().iter().map(|u| u["update_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(updates[0]["message"]["text"], "hi");
    assert_eq!(updates[0]["message"]["chat"], json!({"id": 1001, "type": "private", "first_name": "Alice"}));
    assert_eq!(updates[0]["message"]["from"]["id"], 1001);
    // Not confirmed yet: the same updates again.
    assert_eq!(bot.ok("getUpdates", json!({})).await, updates);
    // limit and offset.
    let one = bot.ok("getUpdates", json!({"limit": 1})).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let rest = bot.ok("getUpdates", json!({"offset": ids[0] + 1})).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert_eq!(rest[0]["update_id"], ids[1]);
    assert_eq!(tg.pending_updates(), 1);
    bot.ok("getUpdates", json!({"offset": ids[1] + 1})).await;
    assert_eq!(tg.pending_updates(), 0);
}

#[tokio::test]
async fn a_long_poll_answers_when_an_update_arrives() {
    let (tg, bot, alice) = setup().await;
    let first = bot.ok("getUpdates", json!({})).await;
    let offset = first[0]["update_id"].as_i64().unwrap() + 1;
    let poll = tokio::spawn(async move { bot.ok("getUpdates", json!({"offset": offset, "timeout": 30})).await });
    assert!(tg.wait_until(|v| v.waiting_polls() == 1, Duration::from_secs(10)).await);
    tg.private_text(&alice, "while polling");
    let updates = poll.await.unwrap();
    assert_eq!(updates[0]["message"]["text"], "while polling");
}

#[tokio::test]
async fn a_second_poller_and_a_webhook_conflict() {
    let (tg, bot, _) = setup().await;
    bot.ok("getUpdates", json!({"offset": 100})).await;
    let bot2 = Bot::new(&tg);
    let first = tokio::spawn(async move { bot2.err("getUpdates", json!({"timeout": 30})).await });
    assert!(tg.wait_until(|v| v.waiting_polls() == 1, Duration::from_secs(10)).await);
    let second = bot.ok("getUpdates", json!({"timeout": 0})).await;
    assert_eq!(second, json!([]));
    let (status, description) = first.await.unwrap();
    assert_eq!(status, 409);
    assert_eq!(
        description,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    );

    let (status, description) = bot.err("setWebhook", json!({"url": "http://example.com/hook"})).await;
    assert_eq!(
        (status, description.as_str()),
        (400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    );
    let (_, v) = bot.call("setWebhook", json!({"url": "https://example.com/hook", "secret_token": "s3cret"})).await;
    assert_eq!(v, json!({"ok": true, "result": true, "description": "Webhook was set"}));
    assert_eq!(tg.webhook().unwrap().secret_token.as_deref(), Some("s3cret"));
    let info = bot.ok("getWebhookInfo", json!({})).await;
    assert_eq!(info["url"], "https://example.com/hook");
    let (status, description) = bot.err("getUpdates", json!({})).await;
    assert_eq!(status, 409);
    assert!(description.starts_with("Conflict: can't use getUpdates method while webhook is active"), "{description}");
    let (_, v) = bot.call("deleteWebhook", json!({})).await;
    assert_eq!(v["description"], "Webhook was deleted");
    assert_eq!(bot.ok("getWebhookInfo", json!({})).await["url"], "");
    bot.ok("getUpdates", json!({})).await;
}

#[tokio::test]
async fn allowed_updates_filter_kinds() {
    let (tg, bot, _) = setup().await;
    tg.push_update(json!({"edited_message": {"message_id": 1, "date": 0, "chat": {"id": 1001, "type": "private"}}}));
    tg.push_update(json!({"message_reaction": {}}));
    let all = bot.ok("getUpdates", json!({})).await;
    // Reactions are opt-in, as on Telegram.
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only = bot.ok("getUpdates", json!({"allowed_updates": ["message"]})).await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert!(only[0].get("message").is_some());
}

#[tokio::test]
async fn send_messages_and_their_rules() {
    let (tg, bot, _) = setup().await;
    let m = bot.ok("sendMessage", json!({"chat_id": 1001, "text": "hello"})).await;
    assert_eq!(m["text"], "hello");
    assert_eq!(m["chat"]["id"], 1001);
    assert_eq!(m["from"]["is_bot"], true);
    // The user's "hi" was message 1.
    assert_eq!(m["message_id"], 2);
    assert_eq!(tg.texts(1001), vec!["hello"]);

    let cases = [
        (json!({"chat_id": 1001, "text": ""}), "Bad Request: message text is empty"),
        (json!({"chat_id": 1001, "text": "  \n "}), "Bad Request: message text is empty"),
        (json!({"chat_id": 1001}), "Bad Request: message text is empty"),
        (json!({"text": "x"}), "Bad Request: chat_id is empty"),
        (json!({"chat_id": 777, "text": "x"}), "Bad Request: chat not found"),
        (json!({"chat_id": 1001, "text": "a".repeat(4097)}), "Bad Request: message is too long"),
        (json!({"chat_id": 1001, "text": "😀".repeat(2049)}), "Bad Request: message is too long"),
        (
            json!({"chat_id": 1001, "text": "1.5", "parse_mode": "MarkdownV2"}),
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
        ),
        (
            json!({"chat_id": 1001, "text": "*open", "parse_mode": "MarkdownV2"}),
            "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0",
        ),
        (
            json!({"chat_id": 1001, "text": "x", "reply_parameters": {"message_id": 99}}),
            "Bad Request: message to be replied not found",
        ),
        (json!({"chat_id": 1001, "text": "x", "parse_mode": "Klingon"}), "Bad Request: unsupported parse_mode"),
    ];
    for (body, want) in cases {
        assert_eq!(bot.err("sendMessage", body.clone()).await, (400, want.to_string()), "{body}");
    }
    // 4096 UTF-16 units exactly is fine, and the limit is after entity parsing.
    bot.ok("sendMessage", json!({"chat_id": 1001, "text": "😀".repeat(2048)})).await;
    let text = format!("*{}*", "b".repeat(4096));
    let m = bot.ok("sendMessage", json!({"chat_id": 1001, "text": text, "parse_mode": "MarkdownV2"})).await;
    assert_eq!(m["entities"], json!([{"type": "bold", "offset": 0, "length": 4096}]));
    let m = bot
        .ok(
            "sendMessage",
            json!({"chat_id": 1001, "text": "1\\.5 *b*", "parse_mode": "MarkdownV2",
        "reply_parameters": {"message_id": 1}}),
        )
        .await;
    assert_eq!(m["text"], "1.5 b");
    assert_eq!(m["reply_to_message"]["text"], "hi");
    let missing_ok = json!({"chat_id": 1001, "text": "x", "reply_parameters": {"message_id": 99, "allow_sending_without_reply": true}});
    bot.ok("sendMessage", missing_ok).await;
    // Every call is in the history, refused ones with their answer.
    let calls = tg.calls_of("sendMessage");
    assert_eq!(calls.len(), 16);
    assert_eq!(calls[1].status, 400);
    assert_eq!(calls[1].description(), Some("Bad Request: message text is empty"));
}

#[tokio::test]
async fn form_and_query_bodies_are_accepted() {
    let (tg, bot, _) = setup().await;
    let v: Value = bot
        .http
        .post(bot.url("sendMessage"))
        .form(&[("chat_id", "1001"), ("text", "by form"), ("reply_parameters", r#"{"message_id":1}"#)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["text"], "by form");
    assert_eq!(v["result"]["reply_to_message"]["message_id"], 1);
    let v: Value = bot
        .http
        .get(bot.url("sendMessage"))
        .query(&[("chat_id", "1001"), ("text", "by query")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["text"], "by query");
    assert_eq!(tg.texts(1001), vec!["by form", "by query"]);
}

#[tokio::test]
async fn edits_and_deletes() {
    let (tg, bot, _) = setup().await;
    let id = bot.ok("sendMessage", json!({"chat_id": 1001, "text": "v1"})).await["message_id"].clone();
    let m = bot.ok("editMessageText", json!({"chat_id": 1001, "message_id": id, "text": "v2"})).await;
    assert_eq!(m["text"], "v2");
    assert!(m["edit_date"].is_i64());
    let same = json!({"chat_id": 1001, "message_id": id, "text": "v2"});
    assert_eq!(
        bot.err("editMessageText", same).await,
        (400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message".into())
    );
    // Same visible text with different entities is a change.
    bot.ok("editMessageText", json!({"chat_id": 1001, "message_id": id, "text": "*v2*", "parse_mode": "MarkdownV2"}))
        .await;
    let messages = tg.messages(1001);
    assert_eq!(messages[0].edits, vec!["v1", "v2"]);
    assert_eq!(
        bot.err("editMessageText", json!({"chat_id": 1001, "message_id": 99, "text": "x"})).await,
        (400, "Bad Request: message to edit not found".into())
    );
    assert_eq!(
        bot.err("editMessageText", json!({"chat_id": 1001, "message_id": 1, "text": "x"})).await,
        (400, "Bad Request: message can't be edited".into())
    );
    assert_eq!(bot.ok("deleteMessage", json!({"chat_id": 1001, "message_id": id})).await, json!(true));
    assert!(tg.texts(1001).is_empty());
    assert!(tg.messages(1001)[0].deleted);
    assert_eq!(
        bot.err("deleteMessage", json!({"chat_id": 1001, "message_id": id})).await,
        (400, "Bad Request: message to delete not found".into())
    );
    assert_eq!(
        bot.err("editMessageText", json!({"chat_id": 1001, "message_id": id, "text": "back"})).await,
        (400, "Bad Request: message to edit not found".into())
    );
}

#[tokio::test]
async fn flood_control_is_per_chat_with_retry_after() {
    let options =
        FakeOptions { rate_limit: Some(RateLimit::new(2, Duration::from_secs(3600))), ..FakeOptions::default() };
    let tg = FakeTelegram::start_with(options).await.unwrap();
    let bot = Bot::new(&tg);
    let (alice, bob) = (TgUser::new(1, "A"), TgUser::new(2, "B"));
    tg.private_text(&alice, "hi");
    tg.private_text(&bob, "hi");
    let id = bot.ok("sendMessage", json!({"chat_id": 1, "text": "one"})).await["message_id"].clone();
    bot.ok("editMessageText", json!({"chat_id": 1, "message_id": id, "text": "two"})).await;
    let (status, v) = bot.call("editMessageText", json!({"chat_id": 1, "message_id": id, "text": "three"})).await;
    assert_eq!(status, 429);
    let retry = v["parameters"]["retry_after"].as_u64().unwrap();
    assert!((3590..=3600).contains(&retry), "{v}");
    assert_eq!(v["description"], format!("Too Many Requests: retry after {retry}"));
    // Another chat is not affected; typing is not counted.
    bot.ok("sendMessage", json!({"chat_id": 2, "text": "fine"})).await;
    bot.ok("sendChatAction", json!({"chat_id": 1, "action": "typing"})).await;
    tg.set_rate_limit(None);
    bot.ok("editMessageText", json!({"chat_id": 1, "message_id": id, "text": "three"})).await;
}

#[tokio::test]
async fn injected_faults_answer_the_next_calls() {
    let (tg, bot, _) = setup().await;
    tg.fail_next("sendMessage", 2, Fault::too_many_requests(7));
    for _ in 0..2 {
        let (status, v) = bot.call("sendMessage", json!({"chat_id": 1001, "text": "x"})).await;
        assert_eq!(status, 429);
        assert_eq!(
            v,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})
        );
    }
    bot.ok("sendMessage", json!({"chat_id": 1001, "text": "x"})).await;
    tg.fail_next("getMe", 1, Fault::new(502, "Bad Gateway"));
    assert_eq!(bot.err("getMe", json!({})).await, (502, "Bad Gateway".into()));
}

#[tokio::test]
async fn drafts_actions_and_commands() {
    let (tg, bot, _) = setup().await;
    tg.group_text(-42, "Team", &TgUser::new(7, "G"), "hello");
    assert_eq!(
        bot.ok(
            "sendMessageDraft",
            json!({"chat_id": 1001, "draft_id": 5, "text": "thin\\.", "parse_mode": "MarkdownV2"})
        )
        .await,
        json!(true)
    );
    bot.ok("sendMessageDraft", json!({"chat_id": 1001, "draft_id": 5, "text": ""})).await;
    assert_eq!(tg.drafts(1001).iter().map(|d| d.text.as_str()).collect::<Vec<_>>(), vec!["thin.", ""]);
    let (status, _) = bot.err("sendMessageDraft", json!({"chat_id": 1001, "draft_id": 0, "text": "x"})).await;
    assert_eq!(status, 400);
    let (status, _) = bot.err("sendMessageDraft", json!({"chat_id": -42, "draft_id": 1, "text": "x"})).await;
    assert_eq!(status, 400);
    assert!(tg.texts(1001).is_empty(), "drafts are not messages");

    bot.ok("sendChatAction", json!({"chat_id": -42, "action": "typing"})).await;
    assert_eq!(tg.actions(-42), vec!["typing"]);
    assert_eq!(
        bot.err("sendChatAction", json!({"chat_id": -42, "action": "dancing"})).await,
        (400, "Bad Request: wrong parameter action in request".into())
    );

    let commands = json!([{"command": "new", "description": "Start a new session"}]);
    bot.ok("setMyCommands", json!({"commands": commands})).await;
    assert_eq!(tg.commands(), Some(commands.clone()));
    assert_eq!(bot.ok("getMyCommands", json!({})).await, commands);
    let (_, d) = bot.err("setMyCommands", json!({"commands": [{"command": "Bad-Name", "description": "x"}]})).await;
    assert_eq!(d, "Bad Request: BOT_COMMAND_INVALID");
}

#[tokio::test]
async fn files_upload_and_download() {
    let (tg, bot, alice) = setup().await;
    let (injected, file) = tg.private_photo(&alice, b"jpeg bytes".to_vec(), Some("caption"));
    let updates = bot.ok("getUpdates", json!({})).await;
    let photo = updates
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["message"]["message_id"] == injected.message_id.unwrap())
        .unwrap();
    assert_eq!(photo["message"]["caption"], "caption");
    let sizes = photo["message"]["photo"].as_array().unwrap();
    assert_eq!(sizes.last().unwrap()["file_id"], file.file_id);
    let f = bot.ok("getFile", json!({"file_id": file.file_id})).await;
    assert_eq!(f["file_size"], 10);
    let path = f["file_path"].as_str().unwrap();
    let url = format!("{}/file/bot{}/{path}", bot.base, bot.token);
    assert_eq!(bot.http.get(&url).send().await.unwrap().bytes().await.unwrap().as_ref(), b"jpeg bytes");
    let wrong = format!("{}/file/bot1:x/{path}", bot.base);
    assert_eq!(bot.http.get(&wrong).send().await.unwrap().status().as_u16(), 401);
    assert_eq!(bot.err("getFile", json!({"file_id": "nope"})).await, (400, "Bad Request: invalid file_id".into()));

    // A multipart upload, like the adapter's sendPhoto / sendDocument / sendVoice.
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "1001")
        .text("caption", "a doc")
        .part("document", reqwest::multipart::Part::bytes(b"%PDF-1.4".to_vec()).file_name("report.pdf"));
    let v: Value = bot.http.post(bot.url("sendDocument")).multipart(form).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["document"]["file_name"], "report.pdf");
    assert_eq!(v["result"]["caption"], "a doc");
    let uploaded = v["result"]["document"]["file_id"].as_str().unwrap();
    let f = bot.ok("getFile", json!({"file_id": uploaded})).await;
    let url = format!("{}/file/bot{}/{}", bot.base, bot.token, f["file_path"].as_str().unwrap());
    assert_eq!(bot.http.get(&url).send().await.unwrap().bytes().await.unwrap().as_ref(), b"%PDF-1.4");
    // Re-sending by file_id works; a missing file is refused.
    bot.ok("sendDocument", json!({"chat_id": 1001, "document": uploaded})).await;
    assert_eq!(
        bot.err("sendPhoto", json!({"chat_id": 1001})).await,
        (400, "Bad Request: there is no photo in the request".into())
    );
    let long = json!({"chat_id": 1001, "document": uploaded, "caption": "c".repeat(1025)});
    assert_eq!(bot.err("sendDocument", long).await, (400, "Bad Request: message caption is too long".into()));
    let kinds: Vec<String> = tg.messages(1001).into_iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec!["document", "document"]);
}

#[tokio::test]
async fn the_http_control_interface() {
    let tg = FakeTelegram::start().await;
    let bot = Bot::new(&tg);
    let http = client();
    let control = |path: &str| format!("{}/_control/{path}", tg.base_url());
    let injected: Value = http
        .post(control("private_text"))
        .json(&json!({"user": {"id": 5, "first_name": "Eve"}, "text": "/start"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(injected["chat_id"], 5);
    let updates = bot.ok("getUpdates", json!({})).await;
    assert_eq!(updates[0]["message"]["entities"], json!([{"type": "bot_command", "offset": 0, "length": 6}]));
    bot.ok("sendMessage", json!({"chat_id": 5, "text": "welcome"})).await;
    let messages: Value = http.get(control("chats/5/messages")).send().await.unwrap().json().await.unwrap();
    assert_eq!(messages[0]["text"], "welcome");
    let calls: Value = http.get(control("calls?method=sendMessage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1);
    assert_eq!(calls[0]["params"]["text"], "welcome");

    let fault = json!({"method": "sendMessage", "count": 1, "fault": {"error_code": 403, "description": "Forbidden: bot was blocked by the user"}});
    assert!(http.post(control("faults")).json(&fault).send().await.unwrap().status().is_success());
    assert_eq!(bot.err("sendMessage", json!({"chat_id": 5, "text": "x"})).await.0, 403);
    let limit = json!({"max_calls": 0, "window_ms": 5000});
    assert!(http.post(control("rate_limit")).json(&limit).send().await.unwrap().status().is_success());
    assert_eq!(bot.err("sendMessage", json!({"chat_id": 5, "text": "x"})).await.0, 429);
    let file: Value = http.post(control("files?kind=photo")).body("img").send().await.unwrap().json().await.unwrap();
    let msg = json!({"chat": {"id": -9, "type": "group", "title": "G"}, "from": {"id": 5, "first_name": "Eve"},
        "caption": "pic", "media": {"photo": file["file_id"]}});
    let resp = http.post(control("message")).json(&msg).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let pending: Value = http.get(control("pending_updates")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pending["count"], 2);
    let bad = http.post(control("message")).body("{").send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}
