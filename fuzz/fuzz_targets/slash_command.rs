//! Arbitrary text as a chat message through the slash command parser, then the parsed
//! arguments through the `/commands` page renderer and the text through the Telegram
//! mention rewrite. The first line of the input is the bot's username.
//!
//! Beyond "never panics", it checks the parser's promises: a command's name is never
//! empty and never holds whitespace or `/`, a known command carries its canonical name,
//! and arguments never grow past the input.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none slash_command corpus/slash_command seeds/slash_command`

#![no_main]

use herald_core::Platform;
use herald_gateway::commands::{commands_page, parse, registry, unknown_command_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (bot, text) = input.split_once('\n').unwrap_or(("herald_bot", &input));
    let bot = (!bot.is_empty()).then_some(bot);
    if let Some(cmd) = parse(text, bot) {
        assert!(!cmd.name.is_empty());
        assert!(!cmd.name.contains(char::is_whitespace) && !cmd.name.contains('/'));
        assert!(cmd.args.len() <= text.len());
        assert!(!cmd.raw.is_empty());
        match cmd.spec {
            Some(spec) => assert_eq!(spec.name, cmd.name),
            None => assert!(unknown_command_reply(&cmd.name).contains(&cmd.name)),
        }
        let page = commands_page(&cmd.args, &Platform::Telegram, None);
        assert!(!page.is_empty());
    }
    let rewritten = registry::for_platform(text, &Platform::Telegram);
    assert_eq!(rewritten.len(), text.len());
});
