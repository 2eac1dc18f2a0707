//! Arbitrary bytes as a `getupdates` answer, through the parsers the adapter runs: the
//! envelope, each message on its own, then the inbound conversion under every DM and
//! group policy.
//!
//! Beyond "never panics", it checks that ids written as JSON integers come out as
//! exactly the digits written (no rounding through f64), that a parsed message's text
//! comes from the input (it never grows past the input plus the fixed prefixes), and
//! that the policies hold: nothing passes `disabled`, and an `allowlist` passes only
//! listed chats.
//!
//! Seeds are in `fuzz/seeds/weixin_message`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none weixin_message corpus/weixin_message seeds/weixin_message`

#![no_main]

use herald_core::ChatType;
use herald_core::config::AdapterPolicy;
use herald_platforms::weixin::parse::{Policy, parse_message};
use herald_platforms::weixin::types;
use libfuzzer_sys::fuzz_target;

const BOT: &str = "bot@im.bot";

fuzz_target!(|data: &[u8]| {
    let Ok(resp) = types::parse_updates(data) else { return };
    let policies = [
        Policy::default(),
        Policy { dm: AdapterPolicy::Open, group: AdapterPolicy::Open, ..Policy::default() },
        Policy { dm: AdapterPolicy::Disabled, group: AdapterPolicy::Disabled, ..Policy::default() },
        Policy {
            dm: AdapterPolicy::Allowlist,
            group: AdapterPolicy::Allowlist,
            allow_from: vec!["u1@im.wechat".into()],
            group_allow_from: vec!["g1@chatroom".into()],
        },
    ];
    for raw in &resp.msgs {
        let Ok(msg) = types::parse_message(raw) else { continue };
        // An integer id is its digits, exactly.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.get())
            && let Some(n) = value.get("message_id").and_then(|v| v.as_u64())
        {
            assert_eq!(msg.message_id.as_deref(), Some(n.to_string().as_str()));
        }
        for policy in &policies {
            let Ok(parsed) = parse_message(msg.clone(), BOT, policy) else { continue };
            let s = &parsed.inbound.source;
            let chat = s.chat_id.as_deref().unwrap_or_default();
            let user = s.user_id.as_deref().unwrap_or_default();
            assert!(!user.is_empty() && user != BOT);
            match (s.chat_type, policy.dm, policy.group) {
                (ChatType::Dm, AdapterPolicy::Disabled, _) => panic!("a DM passed the disabled policy"),
                (ChatType::Dm, AdapterPolicy::Allowlist, _) => assert_eq!(user, "u1@im.wechat"),
                (ChatType::Dm, _, _) => assert_eq!(chat, user),
                (_, _, AdapterPolicy::Disabled | AdapterPolicy::Pairing) => panic!("a group passed a closed policy"),
                (_, _, AdapterPolicy::Allowlist) => assert_eq!(chat, "g1@chatroom"),
                _ => {}
            }
            // Only the quote and voice prefixes are added to what the input holds.
            assert!(parsed.inbound.text.len() <= data.len() * 2 + 64);
            assert!(!parsed.inbound.text.trim().is_empty() || !parsed.media.is_empty());
        }
    }
});
