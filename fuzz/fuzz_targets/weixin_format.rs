//! Arbitrary text through the WeChat formatter and splitter, as the adapter runs them on
//! every answer: `format_message`, then `split_text` in both modes at a limit taken from
//! the input.
//!
//! Beyond "never panics", it checks that every chunk is within the limit and not blank,
//! that blank text gives no chunks, that formatting leaves code fences balanced, and that
//! text without headings or tables (nothing to rewrite) loses nothing but whitespace.
//!
//! Seeds are in `fuzz/seeds/weixin_format`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none weixin_format corpus/weixin_format seeds/weixin_format`

#![no_main]

use herald_platforms::weixin::format::{SplitMode, format_message, split_text};
use libfuzzer_sys::fuzz_target;

fn non_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is_fence(line: &str) -> bool {
    line.trim().strip_prefix("```").is_some_and(|rest| !rest.contains('`'))
}

fn check_split(text: &str, max: usize, mode: SplitMode) {
    let chunks = split_text(text, max, mode);
    assert_eq!(chunks.is_empty(), text.trim().is_empty(), "{mode:?} {max}");
    for c in &chunks {
        assert!(c.chars().count() <= max.max(1), "{mode:?} {max}: {} chars", c.chars().count());
        assert!(!c.trim().is_empty(), "{mode:?} {max}: blank chunk");
    }
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes pick the limit (1..=4096); the rest is the answer.
    let (max, text) = match data {
        [a, b, rest @ ..] => ((usize::from(*a) << 8 | usize::from(*b)) % 4096 + 1, rest),
        _ => (2000, data),
    };
    let text = String::from_utf8_lossy(text);
    let formatted = format_message(&text);
    assert_eq!(formatted.split('\n').filter(|l| is_fence(l)).count() % 2, 0, "fences balanced after format");
    if !text.contains('#') && !text.contains('|') {
        let (before, after) = (non_ws(&text), non_ws(&formatted));
        assert!(after == before || after == format!("{before}```"), "format lost text");
    }
    for mode in [SplitMode::Compact, SplitMode::PerLine] {
        check_split(&formatted, max, mode);
        // The splitter is public: raw, unformatted text must hold too.
        check_split(&text, max, mode);
    }
});
