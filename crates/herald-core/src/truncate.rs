//! Splitting a text longer than one message (Hermes's `truncate_message`), in the
//! platform's length unit: cut at the last line break, else the last space, never inside
//! an inline code span; a code fence left open is closed at the end of the chunk and
//! reopened with its language at the start of the next; every chunk gets a ` (i/N)`
//! mark. Shared by the gateway's delivery chunker and adapters that split answers
//! themselves (WeChat), which cannot depend on the gateway.
//!
//! Unlike Hermes, the mark's room is computed rather than a fixed 10, and a limit too small
//! for marks and fences gives plain cuts, so every chunk is within the limit whatever the
//! input (one character wider than the whole limit, which no platform has, aside).

use crate::LengthUnit;

const FENCE_CLOSE: &str = "\n```";

/// Splits `text` into chunks of at most `max` (≥ 1) units of `unit`.
pub fn truncate_message(text: &str, max: usize, unit: LengthUnit) -> Vec<String> {
    if unit.len(text) <= max {
        return vec![text.to_string()];
    }
    // The mark ` (i/N)` takes 4 + 2·digits(N) characters; try one digit, then more.
    let mut digits = 1u32;
    loop {
        let reserve = 4 + 2 * digits as usize;
        let Some(mut chunks) = marked_cuts(text, max, reserve, unit) else {
            return plain_cuts(text, max, unit);
        };
        let n = chunks.len();
        if n < 10usize.saturating_pow(digits) {
            for (i, chunk) in chunks.iter_mut().enumerate() {
                chunk.push_str(&format!(" ({}/{n})", i + 1));
            }
            return chunks;
        }
        digits += 1;
    }
}

/// The cuts, each at most `max - reserve` units, or `None` when fences and the mark
/// leave no room for text.
fn marked_cuts(text: &str, max: usize, reserve: usize, unit: LengthUnit) -> Option<Vec<String>> {
    let budget = max.checked_sub(reserve).filter(|b| *b > 0)?;
    let mut chunks = Vec::new();
    let mut remaining: &str = text;
    let mut carry: Option<String> = None;
    loop {
        let prefix = carry.as_ref().map(|tag| format!("```{tag}\n")).unwrap_or_default();
        let prefix_len = unit.len(&prefix);
        // Counted only up to the budget: a long remainder is not recounted per chunk.
        let rest_len = len_upto(remaining, budget + 1, unit);
        if prefix_len + rest_len <= budget {
            let whole = format!("{prefix}{remaining}");
            let close = open_fence(&whole).is_some();
            if !close || prefix_len + rest_len + unit.len(FENCE_CLOSE) <= budget {
                chunks.push(if close { whole + FENCE_CLOSE } else { whole });
                return Some(chunks);
            }
        }
        let headroom = budget.checked_sub(prefix_len + unit.len(FENCE_CLOSE)).filter(|h| *h > 0)?;
        let region = prefix_units(remaining, headroom, unit);
        let mut cut = split_point(region);
        if cut == 0 {
            // At least one character, or a character wider than the room would loop.
            cut = region.len().max(remaining.chars().next().map_or(1, char::len_utf8));
        }
        let (head, tail) = remaining.split_at(cut);
        let mut chunk = format!("{prefix}{head}");
        carry = open_fence(&chunk).map(str::to_string);
        if carry.is_some() {
            chunk.push_str(FENCE_CLOSE);
        }
        chunks.push(chunk);
        remaining = tail.trim_start();
        if remaining.is_empty() {
            return Some(chunks);
        }
    }
}

/// Cuts of at most `max` units (the last shorter), blank ones dropped: the last resort
/// when the limit is too small for anything better.
fn plain_cuts(text: &str, max: usize, unit: LengthUnit) -> Vec<String> {
    let mut cuts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut head = prefix_units(rest, max, unit);
        if head.is_empty() {
            head = &rest[..rest.chars().next().map_or(rest.len(), char::len_utf8)];
        }
        cuts.push(head.to_string());
        rest = &rest[head.len()..];
    }
    cuts.retain(|c| !c.trim().is_empty());
    cuts
}

/// The longest prefix of `text` within `units`, on a char boundary.
fn prefix_units(text: &str, units: usize, unit: LengthUnit) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += char_units(c, unit);
        if used > units {
            return &text[..i];
        }
    }
    text
}

/// The length of `text` in `unit`, counted no further than `cap`.
fn len_upto(text: &str, cap: usize, unit: LengthUnit) -> usize {
    let mut used = 0;
    for c in text.chars() {
        used += char_units(c, unit);
        if used >= cap {
            return used;
        }
    }
    used
}

fn char_units(c: char, unit: LengthUnit) -> usize {
    match unit {
        LengthUnit::Utf16 => c.len_utf16(),
        LengthUnit::Chars => 1,
        LengthUnit::Bytes => c.len_utf8(),
    }
}

/// Where to cut `region` (a byte index, 0 for "nowhere"): the last newline, else the last
/// space when the newline is in the first half; moved back before an inline code span the
/// cut would fall inside, when that keeps at least a quarter of the region.
fn split_point(region: &str) -> usize {
    let mut cut = region.rfind('\n').unwrap_or(0);
    if cut < region.len() / 2 {
        cut = region.rfind(' ').unwrap_or(0);
    }
    if cut == 0 {
        return 0;
    }
    let before = &region[..cut];
    if unescaped_backticks(before) % 2 == 1
        && let Some(tick) = last_unescaped_backtick(before)
        && let Some(safe) = before[..tick].rfind([' ', '\n'])
        && safe > region.len() / 4
    {
        return safe;
    }
    cut
}

fn unescaped_backticks(s: &str) -> usize {
    let b = s.as_bytes();
    (0..b.len()).filter(|&i| b[i] == b'`' && (i == 0 || b[i - 1] != b'\\')).count()
}

fn last_unescaped_backtick(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).rev().find(|&i| b[i] == b'`' && (i == 0 || b[i - 1] != b'\\'))
}

/// The first word of the tag of a fence left open at the end of `text` (what the next
/// chunk reopens with), `None` when every fence is closed.
fn open_fence(text: &str) -> Option<&str> {
    let mut open: Option<&str> = None;
    for line in text.split('\n') {
        if let Some(tag) = fence_tag(line) {
            open = match open {
                Some(_) => None,
                None => Some(tag.split_whitespace().next().unwrap_or("")),
            };
        }
    }
    open
}

/// The tag of a fence line (```` ```rust ```` gives `rust`), `None` for any other line.
fn fence_tag(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("```")?;
    (!rest.contains('`')).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truncate(text: &str, max: usize) -> Vec<String> {
        truncate_message(text, max, LengthUnit::Chars)
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    fn strip_mark(chunk: &str) -> &str {
        chunk.rsplit_once(" (").map_or(chunk, |(body, _)| body)
    }

    #[test]
    fn fits_is_untouched() {
        assert_eq!(truncate("abc", 3), ["abc"]);
    }

    #[test]
    fn cuts_at_lines_and_marks_every_chunk() {
        let text = (0..100).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let chunks = truncate(&text, 100);
        let n = chunks.len();
        assert!(n > 1);
        for (i, c) in chunks.iter().enumerate() {
            assert!(chars(c) <= 100);
            assert!(c.ends_with(&format!(" ({}/{n})", i + 1)));
            // Every cut is at a line break: no line is torn.
            assert!(strip_mark(c).split('\n').all(|l| l.starts_with("line ")), "{c:?}");
        }
        assert_eq!(chunks.iter().map(|c| strip_mark(c)).collect::<Vec<_>>().join("\n"), text);
    }

    #[test]
    fn falls_back_to_spaces_then_hard_cuts() {
        let text = "word ".repeat(50);
        let text = text.trim_end();
        let chunks = truncate(text, 40);
        assert!(chunks.iter().all(|c| chars(c) <= 40 && strip_mark(c).split(' ').all(|w| w == "word")));
        let solid = "x".repeat(95);
        let chunks = truncate(&solid, 40);
        assert_eq!(chunks.iter().map(|c| strip_mark(c)).collect::<String>(), solid);
        assert!(chunks.iter().all(|c| chars(c) <= 40));
    }

    #[test]
    fn open_fences_are_closed_and_reopened() {
        let body = (0..60).map(|i| format!("println!(\"{i}\");")).collect::<Vec<_>>().join("\n");
        let text = format!("```rust\n{body}\n```");
        let chunks = truncate(&text, 200);
        assert!(chunks.len() > 2);
        for (i, c) in chunks.iter().enumerate() {
            assert!(chars(c) <= 200);
            let body = strip_mark(c);
            assert!(body.starts_with("```rust\n"), "chunk {i} reopens: {body:?}");
            assert!(body.ends_with("\n```"), "chunk {i} closes: {body:?}");
            assert_eq!(open_fence(body), None);
        }
    }

    #[test]
    fn inline_code_is_not_cut() {
        let text = format!("{} `a b c d e f g h` tail", "z".repeat(30));
        // The region ends inside the code span; the cut moves before it.
        let chunks = truncate(&text, 50);
        assert!(chunks[0].starts_with(&"z".repeat(30)));
        assert!(!strip_mark(&chunks[0]).contains('`'), "{chunks:?}");
    }

    #[test]
    fn mark_room_grows_with_chunk_count() {
        let text = "ab ".repeat(2000);
        let chunks = truncate(text.trim_end(), 20);
        assert!(chunks.len() >= 100);
        assert!(chunks.iter().all(|c| chars(c) <= 20), "{:?}", chunks.iter().map(|c| chars(c)).max());
        assert!(chunks.last().unwrap().ends_with(&format!("/{})", chunks.len())));
    }

    #[test]
    fn tiny_limits_still_hold() {
        for max in 1..12 {
            let chunks = truncate("```python\nprint('hello world')\n```", max);
            assert!(chunks.iter().all(|c| chars(c) <= max && !c.trim().is_empty()), "max {max}: {chunks:?}");
        }
        // A fence tag too long to reopen within the limit.
        let text = format!("```{}\ncode line\nmore code\n```", "t".repeat(50));
        assert!(truncate(&text, 30).iter().all(|c| chars(c) <= 30));
    }

    #[test]
    fn multibyte_text_cuts_on_char_boundaries() {
        let text = "汉字测试".repeat(100);
        let chunks = truncate(&text, 50);
        assert!(chunks.iter().all(|c| chars(c) <= 50));
        assert_eq!(chunks.iter().map(|c| strip_mark(c)).collect::<String>(), text);
    }

    #[test]
    fn limits_count_utf16_units() {
        let text = "😀".repeat(3000); // 6000 UTF-16 units, 3000 chars, no spaces
        let chunks = truncate_message(&text, 4096, LengthUnit::Utf16);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| LengthUnit::Utf16.len(c) <= 4096));
        let emojis: usize = chunks.iter().map(|c| c.matches('😀').count()).sum();
        assert_eq!(emojis, 3000, "nothing lost, no emoji cut in half");
        // Narrower than one emoji: one per chunk rather than a loop.
        assert!(truncate_message("😀😀😀", 1, LengthUnit::Utf16).iter().all(|c| c == "😀"));
    }
}
