use serde_json::json;

use super::*;

fn bot() -> BotIdentity {
    BotIdentity { id: 777, username: "herald_bot".into() }
}

fn gate(require_mention: bool) -> Gate {
    Gate::new(require_mention, vec!["-100999".into()], &["^hey herald\\b".into()], AllowBots::None).0
}

fn parse(v: serde_json::Value, g: &Gate) -> Result<Parsed, Skip> {
    parse_update(v, &bot(), g).expect("well-formed")
}

/// The private text message of the Bot API documentation's examples.
fn private_text(text: &str, entities: serde_json::Value) -> serde_json::Value {
    json!({
        "update_id": 10000,
        "message": {
            "date": 1441645532,
            "chat": {"last_name": "Test Lastname", "id": 1111111, "type": "private",
                     "first_name": "Test Firstname", "username": "Testusername"},
            "message_id": 1365,
            "from": {"last_name": "Test Lastname", "id": 1111111, "is_bot": false,
                     "first_name": "Test Firstname", "username": "Testusername", "language_code": "en"},
            "text": text,
            "entities": entities
        }
    })
}

fn group_text(chat_type: &str, text: &str, entities: serde_json::Value) -> serde_json::Value {
    json!({
        "update_id": 10001,
        "message": {
            "message_id": 42, "date": 1700000000,
            "chat": {"id": -1001234, "type": chat_type, "title": "Team"},
            "from": {"id": 5, "is_bot": false, "first_name": "Ann"},
            "text": text, "entities": entities
        }
    })
}

#[test]
fn private_text_message_is_normalised() {
    let p = parse(private_text("/start", json!([{"type": "bot_command", "offset": 0, "length": 6}])), &gate(false))
        .unwrap();
    let i = p.inbound;
    assert_eq!(i.source.platform, Platform::Telegram);
    assert_eq!(i.source.chat_type, ChatType::Dm);
    assert_eq!(i.source.chat_id.as_deref(), Some("1111111"));
    assert_eq!(i.source.user_id.as_deref(), Some("1111111"));
    assert_eq!(i.source.user_name.as_deref(), Some("Test Firstname Test Lastname"));
    assert_eq!(i.source.chat_name.as_deref(), Some("Test Firstname Test Lastname"));
    assert_eq!(i.message_id.as_deref(), Some("1365"));
    assert_eq!(i.text, "/start");
    assert_eq!(i.timestamp_ms, 1_441_645_532_000);
    assert!(!i.from_bot);
    assert!(p.media.is_empty());
}

#[test]
fn unknown_fields_are_ignored() {
    let mut v = private_text("hi", json!([]));
    v["message"]["brand_new_field"] = json!({"nested": [1, 2, 3]});
    v["something_else"] = json!(true);
    assert_eq!(parse(v, &gate(false)).unwrap().inbound.text, "hi");
}

#[test]
fn missing_required_fields_are_malformed_not_panics() {
    let g = gate(false);
    for v in [
        json!({"message": {"message_id": 1}}),
        json!({"update_id": 1, "message": {"message_id": 1, "date": 1}}),
        json!({"update_id": 1, "message": {"message_id": "x", "date": 1, "chat": {"id": 1, "type": "private"}}}),
        json!({"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"},
               "entities": [{"type": "bold"}]}}),
        json!([1, 2]),
    ] {
        assert!(parse_update(v, &bot(), &g).is_err());
    }
    let (id, r) = parse_update_bytes(br#"{"update_id": 5, "message": 7}"#, &bot(), &g);
    assert_eq!(id, Some(5));
    let err = r.unwrap_err();
    assert_eq!(err.category, "missing or mistyped field");
    let (id, r) = parse_update_bytes(b"{\"update_id\": 5, \"message\": {\"text\": \"secret words", &bot(), &g);
    assert_eq!(id, None);
    assert!(!r.unwrap_err().to_string().contains("secret"));
}

#[test]
fn other_updates_and_service_messages_are_skipped() {
    let g = gate(false);
    let edited =
        json!({"update_id": 3, "edited_message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}});
    assert_eq!(parse(edited, &g), Err(Skip::NotAMessage));
    let joined = json!({"update_id": 4, "message": {"message_id": 1, "date": 1, "chat": {"id": -1, "type": "group"},
        "new_chat_members": [{"id": 9, "is_bot": false, "first_name": "B"}]}});
    assert_eq!(parse(joined, &g), Err(Skip::NoContent));
    let weird = json!({"update_id": 4, "message": {"message_id": 1, "date": 1, "chat": {"id": -1, "type": "moon"}, "text": "x"}});
    assert_eq!(parse(weird, &g), Err(Skip::UnknownChatType));
}

#[test]
fn commands_for_this_bot_lose_the_suffix_and_others_are_dropped() {
    let g = gate(false);
    let v =
        group_text("group", "/new@Herald_Bot my topic", json!([{"type": "bot_command", "offset": 0, "length": 15}]));
    assert_eq!(parse(v, &g).unwrap().inbound.text, "/new my topic");
    let v = group_text("group", "/new@other_bot", json!([{"type": "bot_command", "offset": 0, "length": 14}]));
    assert_eq!(parse(v, &g), Err(Skip::OtherBotCommand));
    let v = private_text("/status", json!([]));
    assert_eq!(parse(v, &g).unwrap().inbound.text, "/status");
    // A path is not a command.
    let v = private_text("/usr/bin@x is a path", json!([]));
    assert_eq!(parse(v, &g).unwrap().inbound.text, "/usr/bin@x is a path");
}

#[test]
fn mention_only_groups_need_an_address() {
    let g = gate(true);
    assert_eq!(parse(group_text("group", "just chatting", json!([])), &g), Err(Skip::NotAddressed));
    // Entity mention, with an astral character before it (UTF-16 offsets).
    let v = group_text(
        "supergroup",
        "😀 @herald_bot what time is it",
        json!([{"type": "mention", "offset": 3, "length": 11}]),
    );
    assert_eq!(parse(v, &g).unwrap().inbound.text, "😀 @herald_bot what time is it");
    // Leading mention is removed.
    let v =
        group_text("group", "@herald_bot, what time is it", json!([{"type": "mention", "offset": 0, "length": 11}]));
    let p = parse(v, &g).unwrap();
    assert_eq!(p.inbound.text, "what time is it");
    assert_eq!(p.inbound.source.chat_type, ChatType::Group);
    assert_eq!(p.inbound.source.chat_name.as_deref(), Some("Team"));
    // A text_mention of the bot's user id.
    let v = group_text(
        "group",
        "Herald look",
        json!([{"type": "text_mention", "offset": 0, "length": 6, "user": {"id": 777, "is_bot": true, "first_name": "Herald"}}]),
    );
    assert!(parse(v, &g).is_ok());
    // A mention of someone else is not enough.
    let v = group_text("group", "@herald_bot2 hi", json!([{"type": "mention", "offset": 0, "length": 12}]));
    assert_eq!(parse(v, &g), Err(Skip::NotAddressed));
    // A bare command, or one for this bot.
    assert!(parse(group_text("group", "/help", json!([])), &g).is_ok());
    // A wake-word pattern.
    assert!(parse(group_text("group", "Hey Herald, status?", json!([])), &g).is_ok());
    // A free-response chat.
    let mut v = group_text("group", "anything", json!([]));
    v["message"]["chat"]["id"] = json!(-100999);
    assert!(parse(v, &g).is_ok());
    // Without require_mention every group message passes.
    assert!(parse(group_text("group", "just chatting", json!([])), &gate(false)).is_ok());
    // DMs are never gated.
    assert!(parse(private_text("just chatting", json!([])), &g).is_ok());
}

#[test]
fn entity_offsets_outside_the_text_or_inside_a_pair_are_ignored() {
    let g = gate(true);
    for (off, len) in [(1, 11), (100, 5), (-1, 3), (0, i64::MAX), (i64::MAX, 1)] {
        let v = group_text("group", "😀herald_bot hi", json!([{"type": "mention", "offset": off, "length": len}]));
        assert_eq!(parse(v, &g), Err(Skip::NotAddressed), "{off} {len}");
    }
}

#[test]
fn replies_to_the_bot_address_it_and_carry_context() {
    let g = gate(true);
    let mut v = group_text("group", "and tomorrow?", json!([]));
    v["message"]["reply_to_message"] = json!({
        "message_id": 41, "date": 1700000000, "chat": {"id": -1001234, "type": "group"},
        "from": {"id": 777, "is_bot": true, "first_name": "Herald", "username": "herald_bot"},
        "text": "Sunny today."
    });
    let p = parse(v, &g).unwrap();
    assert_eq!(
        p.inbound.reply_to,
        Some(ReplyContext { message_id: "41".into(), text: Some("Sunny today.".into()), from_bot: true })
    );
}

#[test]
fn forum_topics_are_forums_with_a_thread() {
    let g = gate(false);
    let v = json!({"update_id": 9, "message": {
        "message_id": 300, "message_thread_id": 5, "is_topic_message": true, "date": 1,
        "chat": {"id": -100123, "type": "supergroup", "title": "Forum", "is_forum": true},
        "from": {"id": 5, "is_bot": false, "first_name": "Ann"},
        "reply_to_message": {"message_id": 5, "date": 1, "chat": {"id": -100123, "type": "supergroup"},
            "forum_topic_created": {"name": "Ideas", "icon_color": 7322096}},
        "text": "in a topic"}});
    let p = parse(v, &g).unwrap();
    assert_eq!(p.inbound.source.chat_type, ChatType::Forum);
    assert_eq!(p.inbound.source.thread_id.as_deref(), Some("5"));
    assert_eq!(p.inbound.reply_to, None, "the topic's opening message is not a reply");
    // The General topic of a forum has no message_thread_id; Telegram calls it 1.
    let v = json!({"update_id": 9, "message": {"message_id": 301, "date": 1,
        "chat": {"id": -100123, "type": "supergroup", "is_forum": true}, "text": "general"}});
    assert_eq!(parse(v, &g).unwrap().inbound.source.thread_id.as_deref(), Some("1"));
    // A reply in an ordinary supergroup has a reply-anchor thread id that is not a topic.
    let v = json!({"update_id": 9, "message": {"message_id": 302, "message_thread_id": 77, "date": 1,
        "chat": {"id": -100124, "type": "supergroup"}, "text": "plain"}});
    let p = parse(v, &g).unwrap();
    assert_eq!(p.inbound.source.chat_type, ChatType::Group);
    assert_eq!(p.inbound.source.thread_id, None);
}

#[test]
fn channel_posts_are_channels() {
    let v = json!({"update_id": 11, "channel_post": {"message_id": 2, "date": 1,
        "chat": {"id": -1005, "type": "channel", "title": "News"}, "text": "post"}});
    let p = parse(v, &gate(true)).unwrap();
    assert_eq!(p.inbound.source.chat_type, ChatType::Channel);
    assert_eq!(p.inbound.source.user_id, None);
}

#[test]
fn media_are_referenced_with_the_largest_photo_and_the_caption_as_text() {
    let v = json!({"update_id": 12, "message": {"message_id": 3, "date": 1,
        "chat": {"id": 1, "type": "private"}, "from": {"id": 1, "is_bot": false, "first_name": "A"},
        "photo": [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67, "file_size": 1254},
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 120000},
            {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 240, "file_size": 15000}
        ],
        "caption": "look @herald_bot", "caption_entities": [{"type": "mention", "offset": 5, "length": 11}]}});
    let p = parse(v, &gate(false)).unwrap();
    assert_eq!(p.inbound.text, "look @herald_bot");
    assert_eq!(p.media.len(), 1);
    assert_eq!(p.media[0].file_id, "big");
    assert_eq!(p.media[0].kind, MediaKind::Photo);
    assert_eq!(p.media[0].file_size, Some(120000));

    let v = json!({"update_id": 13, "message": {"message_id": 4, "date": 1,
        "chat": {"id": 1, "type": "private"}, "from": {"id": 1, "is_bot": false, "first_name": "A"},
        "voice": {"file_id": "v1", "file_unique_id": "vu", "duration": 2, "mime_type": "audio/ogg", "file_size": 2000}}});
    let p = parse(v, &gate(false)).unwrap();
    assert_eq!(p.inbound.text, "");
    assert_eq!(p.media[0].kind, MediaKind::Voice);
    assert_eq!(p.media[0].mime_type.as_deref(), Some("audio/ogg"));

    let v = json!({"update_id": 14, "message": {"message_id": 5, "date": 1,
        "chat": {"id": 1, "type": "private"}, "from": {"id": 1, "is_bot": false, "first_name": "A"},
        "document": {"file_id": "d1", "file_name": "report.pdf", "mime_type": "application/pdf", "file_size": 10},
        "sticker": {"file_id": "st", "width": 512, "height": 512, "is_animated": false, "is_video": false, "type": "regular"}}});
    let kinds: Vec<MediaKind> = parse(v, &gate(false)).unwrap().media.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![MediaKind::Document, MediaKind::Sticker]);
}

#[test]
fn own_and_other_bots_messages() {
    let mut v = private_text("echo", json!([]));
    v["message"]["from"] = json!({"id": 777, "is_bot": true, "first_name": "Herald"});
    assert_eq!(parse(v, &gate(false)), Err(Skip::OwnMessage));

    let bot_msg = |text: &str| {
        let mut v = group_text("group", text, json!([]));
        v["message"]["from"] = json!({"id": 900, "is_bot": true, "first_name": "Other"});
        v
    };
    assert_eq!(parse(bot_msg("hello"), &gate(false)), Err(Skip::BotAuthor));
    let mentions = Gate::new(false, vec![], &[], AllowBots::Mentions).0;
    assert_eq!(parse(bot_msg("hello"), &mentions), Err(Skip::BotAuthor));
    let p = parse(bot_msg("@herald_bot hello"), &mentions).unwrap();
    assert!(p.inbound.from_bot);
    assert_eq!(p.inbound.text, "hello");
    let all = Gate::new(false, vec![], &[], AllowBots::All).0;
    assert!(parse(bot_msg("hello"), &all).is_ok());
}

#[test]
fn bad_patterns_are_reported_not_fatal() {
    let (g, bad) = Gate::new(true, vec![], &["(unclosed".into(), "ok".into()], AllowBots::None);
    assert_eq!(g.mention_patterns.len(), 1);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "(unclosed");
}

#[test]
fn leading_mention_stripping() {
    assert_eq!(strip_leading_mention("@herald_bot hi", "herald_bot"), "hi");
    assert_eq!(strip_leading_mention("  @HERALD_BOT: hi", "herald_bot"), "hi");
    assert_eq!(strip_leading_mention("@herald_bots hi", "herald_bot"), "@herald_bots hi");
    assert_eq!(strip_leading_mention("hi @herald_bot", "herald_bot"), "hi @herald_bot");
    assert_eq!(strip_leading_mention("@herald_bot", "herald_bot"), "");
}
