//! Arbitrary bytes as a Telegram update (a webhook body, or one element of
//! `getUpdates`), through the parser the adapter runs, with group gating on; then the
//! parsed text through the MarkdownV2 converter, and every entity range of the raw
//! JSON through the UTF-16 slicing helper.
//!
//! Beyond "never panics", it checks that a parsed message's text never grows past the
//! input (the adapter only removes a mention or a command suffix) and that slicing
//! agrees with a UTF-16 reference.
//!
//! Seeds (Bot API example updates) are in `fuzz/seeds/telegram_update`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none telegram_update corpus/telegram_update seeds/telegram_update`

#![no_main]

use herald_platforms::telegram::parse::{BotIdentity, Gate, parse_update_bytes};
use herald_platforms::telegram::{markdown, utf16};
use libfuzzer_sys::fuzz_target;

fn check_slice(text: &str, offset: i64, length: i64) {
    let got = utf16::slice(text, offset, length);
    let units: Vec<u16> = text.encode_utf16().collect();
    let low = |i: usize| units.get(i).is_some_and(|u| (0xDC00..=0xDFFF).contains(u));
    let expected = if offset < 0 || length < 0 {
        None
    } else {
        let (o, l) = (offset as u64, length as u64);
        match o.checked_add(l) {
            Some(end) if end <= units.len() as u64 && !low(o as usize) && !low(end as usize) => {
                Some(String::from_utf16(&units[o as usize..end as usize]).expect("valid boundaries"))
            }
            _ => None,
        }
    };
    assert_eq!(got.map(str::to_string), expected, "slice({offset}, {length})");
}

fuzz_target!(|data: &[u8]| {
    let bot = BotIdentity { id: 777, username: "herald_bot".into() };
    let (gate, _) = Gate::new(
        true,
        vec!["-100999".into()],
        &["^hey herald\\b".into()],
        herald_core::config::AllowBots::Mentions,
    );
    let (_, result) = parse_update_bytes(data, &bot, &gate);
    if let Ok(Ok(parsed)) = &result {
        assert!(parsed.inbound.text.len() <= data.len());
        let _ = markdown::to_markdown_v2(&parsed.inbound.text);
    }
    // Entity ranges as written in the input, against the text they claim to index.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for key in ["message", "channel_post"] {
            let Some(msg) = value.get(key) else { continue };
            for (text_key, ents_key) in [("text", "entities"), ("caption", "caption_entities")] {
                let Some(text) = msg.get(text_key).and_then(|t| t.as_str()) else { continue };
                for e in msg.get(ents_key).and_then(|e| e.as_array()).into_iter().flatten() {
                    let off = e.get("offset").and_then(|v| v.as_i64()).unwrap_or(-1);
                    let len = e.get("length").and_then(|v| v.as_i64()).unwrap_or(-1);
                    check_slice(text, off, len);
                }
            }
        }
    }
    // The raw bytes as Markdown too, when they are text.
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = markdown::to_markdown_v2(s);
    }
});
