//! Cutting a formatted answer into WeChat bubbles: Hermes's
//! `_split_text_for_weixin_delivery` and its helpers (`_split_markdown_blocks`,
//! `_split_delivery_units_for_weixin`, `_should_split_short_chat_block_for_weixin`,
//! `_pack_markdown_blocks_for_weixin`).

use super::{chars, fence_tag, heading, is_fence, is_table_rule};

/// How multi-line answers become bubbles (`WEIXIN_SPLIT_MULTILINE_MESSAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitMode {
    /// One bubble when it fits, except short chatty blocks (one bubble per line); longer
    /// answers packed by blank-line-separated blocks. Hermes's default.
    #[default]
    Compact,
    /// Hermes's legacy mode: every top-level line its own bubble (indented lines stay with
    /// the line above, code fences whole).
    PerLine,
}

/// Splits `text` (normally [`format_message`](super::format_message)'s output) into
/// bubbles of at most `max_chars` characters each, in order, none of them empty or blank:
///
/// - [`SplitMode::Compact`]: text within the limit is one bubble, unless it is a short
///   chatty block (2 to 6 non-empty lines, the first not a heading, every line a short
///   utterance, see [`is_chatty_line`]), which goes one bubble per line. Longer text is
///   packed greedily from its blank-line-separated blocks (joined by one blank line),
///   code fences kept whole; a block longer than the limit is cut by the fallback
///   truncator (at line breaks or spaces, fences closed and reopened, ` (i/N)` marks).
/// - [`SplitMode::PerLine`]: a single line within the limit is one bubble; otherwise
///   every delivery unit (top-level line with its indented continuation lines, or a whole
///   code fence) is a bubble, units over the limit packed as above.
///
/// Blank text gives no bubbles. `max_chars` below 1 is taken as 1.
pub fn split_text(text: &str, max_chars: usize, mode: SplitMode) -> Vec<String> {
    let max = max_chars.max(1);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let mut chunks = match mode {
        SplitMode::PerLine => {
            if chars(text) <= max && !text.contains('\n') {
                return vec![text.to_string()];
            }
            let mut chunks = Vec::new();
            for unit in delivery_units(text) {
                if chars(&unit) <= max {
                    chunks.push(unit);
                } else {
                    chunks.extend(pack(&unit, max));
                }
            }
            chunks
        }
        SplitMode::Compact if chars(text) <= max => {
            if is_short_chat_block(text) {
                delivery_units(text)
            } else {
                return vec![text.to_string()];
            }
        }
        SplitMode::Compact => pack(text, max),
    };
    chunks.retain(|c| !c.trim().is_empty());
    chunks
}

/// Blank-line-separated blocks, each trimmed; a code fence (opening line to closing line)
/// is always a block of its own, blank lines inside it kept.
fn markdown_blocks(text: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_code = false;
    let flush = |current: &mut Vec<&str>, blocks: &mut Vec<String>| {
        let block = current.join("\n").trim().to_string();
        current.clear();
        if !block.is_empty() {
            blocks.push(block);
        }
    };
    for raw in text.split('\n') {
        let line = raw.trim_end();
        if is_fence(line) {
            if !in_code && !current.is_empty() {
                flush(&mut current, &mut blocks);
            }
            current.push(line);
            in_code = !in_code;
            if !in_code {
                flush(&mut current, &mut blocks);
            }
            continue;
        }
        if in_code {
            current.push(line);
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut current, &mut blocks);
            continue;
        }
        current.push(line);
    }
    flush(&mut current, &mut blocks);
    blocks
}

/// The bubbles of per-line delivery: every top-level line of every block, with the
/// indented (space or tab) lines under it attached; a code fence block whole.
fn delivery_units(text: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for block in markdown_blocks(text) {
        if block.split('\n').next().is_some_and(|first| fence_tag(first).is_some()) {
            units.push(block);
            continue;
        }
        let mut current: Vec<&str> = Vec::new();
        for raw in block.split('\n') {
            let line = raw.trim_end();
            if line.trim().is_empty() {
                push_unit(&mut current, &mut units);
                continue;
            }
            if !current.is_empty() && raw.starts_with([' ', '\t']) {
                current.push(line);
                continue;
            }
            push_unit(&mut current, &mut units);
            current.push(line);
        }
        push_unit(&mut current, &mut units);
    }
    units
}

fn push_unit(current: &mut Vec<&str>, units: &mut Vec<String>) {
    let unit = current.join("\n").trim().to_string();
    current.clear();
    if !unit.is_empty() {
        units.push(unit);
    }
}

/// Hermes's `_looks_like_chatty_line_for_weixin`: a standalone utterance of at most 48
/// characters, not indented, not starting with `>`, `-`, `*`, `【`, `#` or `|`, not a
/// table rule, not only `**bold**`, not a numbered item (`1. `).
fn is_chatty_line(line: &str) -> bool {
    let stripped = line.trim();
    if stripped.is_empty() || chars(stripped) > 48 || line.starts_with([' ', '\t']) {
        return false;
    }
    if stripped.starts_with(['>', '-', '*', '【', '#', '|']) || is_table_rule(stripped) {
        return false;
    }
    if is_bold_only(stripped) || is_numbered_item(stripped) {
        return false;
    }
    true
}

/// `^\*\*[^*]+\*\*$`
fn is_bold_only(s: &str) -> bool {
    s.strip_prefix("**")
        .and_then(|r| r.strip_suffix("**"))
        .is_some_and(|inner| !inner.is_empty() && !inner.contains('*'))
}

/// `^\d+\.\s`: digits (ASCII or full-width), a dot, whitespace.
fn is_numbered_item(s: &str) -> bool {
    let digits = s.chars().take_while(|c| c.is_ascii_digit() || ('０'..='９').contains(c)).count();
    if digits == 0 {
        return false;
    }
    let mut rest = s.chars().skip(digits);
    rest.next() == Some('.') && rest.next().is_some_and(char::is_whitespace)
}

/// Hermes's `_looks_like_heading_line_for_weixin`: a `#` heading, or a line of at most
/// 24 characters ending in a colon (ASCII or full-width).
fn is_heading_line(line: &str) -> bool {
    let stripped = line.trim();
    if stripped.is_empty() {
        return false;
    }
    heading(stripped).is_some() || (chars(stripped) <= 24 && stripped.ends_with([':', '：']))
}

/// Hermes's `_should_split_short_chat_block_for_weixin`.
fn is_short_chat_block(text: &str) -> bool {
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
    if !(2..=6).contains(&lines.len()) || is_heading_line(lines[0]) {
        return false;
    }
    lines.iter().all(|l| is_chatty_line(l))
}

/// Hermes's `_pack_markdown_blocks_for_weixin`: blocks joined by a blank line while they
/// fit; a block over the limit goes through the fallback truncator on its own.
fn pack(text: &str, max: usize) -> Vec<String> {
    if chars(text) <= max {
        return vec![text.to_string()];
    }
    let mut packed: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for block in markdown_blocks(text) {
        let block_len = chars(&block);
        if current.is_empty() && block_len <= max {
            current = block;
            current_len = block_len;
            continue;
        }
        if !current.is_empty() && current_len + 2 + block_len <= max {
            current.push_str("\n\n");
            current.push_str(&block);
            current_len += 2 + block_len;
            continue;
        }
        if !current.is_empty() {
            packed.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if block_len <= max {
            current = block;
            current_len = block_len;
        } else {
            packed.extend(herald_core::truncate::truncate_message(&block, max, herald_core::LengthUnit::Chars));
        }
    }
    if !current.is_empty() {
        packed.push(current);
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> Vec<String> {
        split_text(text, 2000, SplitMode::Compact)
    }

    #[test]
    fn short_text_is_one_bubble() {
        assert_eq!(compact("Hello!"), ["Hello!"]);
        let para = "This is a longer paragraph.\nIt continues here, and the lines are fine as one message together.";
        assert_eq!(compact(para), [para]);
    }

    #[test]
    fn short_chatty_block_is_one_bubble_per_line() {
        assert_eq!(compact("好的\n收到\n马上处理"), ["好的", "收到", "马上处理"]);
        assert_eq!(compact("Sure!\n\nOn it."), ["Sure!", "On it."]);
        // Six lines still split, seven do not.
        let six = "a\nb\nc\nd\ne\nf";
        assert_eq!(compact(six).len(), 6);
        let seven = "a\nb\nc\nd\ne\nf\ng";
        assert_eq!(compact(seven), [seven]);
        // One line is never "chatty".
        assert_eq!(compact("just one"), ["just one"]);
    }

    #[test]
    fn structured_blocks_stay_together() {
        for text in [
            "Steps:\nopen it\nclose it",                                     // heading-like first line
            "# Title\nline\nline",                                           // markdown heading first
            "intro\n- one\n- two",                                           // list item
            "intro\n* one",                                                  // star list
            "intro\n> quoted",                                               // quote
            "intro\n【标题】",                                               // rewritten H1
            "intro\n**Bold**",                                               // rewritten H2
            "intro\n1. first",                                               // numbered item
            "intro\n１. 全角",                                               // full-width numbered item
            "intro\n| a | b |",                                              // table row
            "intro\n  indented",                                             // indented line
            "intro\n#tag",                                                   // starts with #
            "a\nthis line is definitely longer than forty-eight characters", // > 48
        ] {
            assert_eq!(compact(text), [text], "{text:?}");
        }
        // Exactly 48 characters is still chatty.
        let l48 = "x".repeat(48);
        assert_eq!(compact(&format!("hi\n{l48}")), ["hi".to_string(), l48]);
        // A 24-char line ending in a colon is a heading; 25 is not.
        assert_eq!(compact(&format!("{}:\nb", "a".repeat(23))).len(), 1);
        assert_eq!(compact(&format!("{}:\nb", "a".repeat(24))).len(), 2);
        assert_eq!(compact("注意：\n别忘了").len(), 1);
    }

    #[test]
    fn chatty_block_keeps_code_fences_whole() {
        assert_eq!(compact("hi\n```\ncode\n```"), ["hi", "```\ncode\n```"]);
    }

    #[test]
    fn line_predicates() {
        assert!(is_bold_only("**Title**"));
        assert!(!is_bold_only("**a*b**"));
        assert!(!is_bold_only("****"));
        assert!(is_numbered_item("12. x"));
        assert!(!is_numbered_item("12.x"));
        assert!(!is_numbered_item("1) x"));
        assert!(!is_numbered_item(". x"));
        assert!(is_chatty_line("OK"));
        assert!(!is_chatty_line(""));
        assert!(!is_chatty_line("\tx"));
        assert!(!is_chatty_line("---|---"));
        assert!(is_heading_line("## h"));
        assert!(!is_heading_line("  "));
    }

    #[test]
    fn long_text_packs_blocks_within_limit() {
        let blocks: Vec<String> =
            (0..30).map(|i| format!("Paragraph {i}: {}", "word ".repeat(15).trim_end())).collect();
        let text = blocks.join("\n\n");
        let chunks = split_text(&text, 300, SplitMode::Compact);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(chars(c) <= 300, "{} chars", chars(c));
        }
        // Greedy packing on block boundaries loses nothing and reorders nothing.
        assert_eq!(chunks.join("\n\n"), text);
        // Packing is greedy: no chunk could have taken the next block.
        for pair in chunks.windows(2) {
            let next_first = pair[1].split("\n\n").next().unwrap();
            assert!(chars(&pair[0]) + 2 + chars(next_first) > 300);
        }
    }

    #[test]
    fn code_fences_are_kept_whole_when_they_fit() {
        let code =
            format!("```rust\n{}\n```", (0..10).map(|i| format!("let x{i} = {i};")).collect::<Vec<_>>().join("\n\n"));
        let text = format!("{}\n\n{code}\n\n{}", "a".repeat(150), "b".repeat(150));
        let chunks = split_text(&text, chars(&code) + 10, SplitMode::Compact);
        assert!(chunks.contains(&code), "{chunks:#?}");
    }

    #[test]
    fn oversized_block_falls_back_to_truncator() {
        let line = "lorem ipsum dolor sit amet ".repeat(20);
        let block = (0..5).map(|_| line.trim_end()).collect::<Vec<_>>().join("\n");
        let chunks = split_text(&block, 200, SplitMode::Compact);
        assert!(chunks.len() > 1);
        let n = chunks.len();
        for (i, c) in chunks.iter().enumerate() {
            assert!(chars(c) <= 200);
            assert!(c.ends_with(&format!(" ({}/{n})", i + 1)), "{c:?}");
        }
    }

    #[test]
    fn per_line_mode() {
        let per = |t: &str| split_text(t, 2000, SplitMode::PerLine);
        assert_eq!(per("single line"), ["single line"]);
        assert_eq!(
            per("# H\nline one\n- item\n  nested\n- item 2"),
            ["# H", "line one", "- item\n  nested", "- item 2"]
        );
        assert_eq!(per("run:\n```\nls\n\npwd\n```\ndone"), ["run:", "```\nls\n\npwd\n```", "done"]);
        // A unit over the limit is packed/truncated, every bubble within the limit.
        let long = "word ".repeat(100);
        let chunks = split_text(&format!("short\n{long}"), 120, SplitMode::PerLine);
        assert_eq!(chunks[0], "short");
        assert!(chunks.len() > 2);
        assert!(chunks.iter().all(|c| chars(c) <= 120));
    }

    #[test]
    fn blank_text_gives_nothing_and_zero_max_is_one() {
        assert!(split_text("", 10, SplitMode::Compact).is_empty());
        assert!(split_text(" \n\t\n", 10, SplitMode::PerLine).is_empty());
        let chunks = split_text("abc", 0, SplitMode::Compact);
        assert_eq!(chunks.concat(), "abc");
        assert!(chunks.iter().all(|c| chars(c) <= 1));
    }

    #[test]
    fn limit_counts_chars_not_bytes() {
        let text = "汉".repeat(2000);
        assert_eq!(compact(&text), std::slice::from_ref(&text));
        let chunks = split_text(&format!("{text}汉"), 2000, SplitMode::Compact);
        assert!(chunks.len() == 2 && chunks.iter().all(|c| chars(c) <= 2000));
    }

    #[test]
    fn blocks_and_units() {
        assert_eq!(markdown_blocks("a\nb\n\n\nc\n```\nx\n\ny\n```\nd"), ["a\nb", "c", "```\nx\n\ny\n```", "d"]);
        assert_eq!(markdown_blocks("```\nunclosed\n\nstill code"), ["```\nunclosed\n\nstill code"]);
        assert_eq!(delivery_units("a\n  b\n\tc\nd"), ["a\n  b\n\tc", "d"]);
    }
}
