//! Splitting a long answer into messages the platform accepts (Hermes's
//! `truncate_message`): at a line break, else a space, never inside an inline code span,
//! with open code fences closed at the end of a chunk and reopened (with their language)
//! at the start of the next, and ` (i/N)` indicators on every chunk.

use herald_core::LengthUnit;

/// Room kept for the ` (i/N)` indicator.
const INDICATOR_RESERVE: usize = 16;
const FENCE_CLOSE: &str = "\n```";

/// Splits `text` into chunks of at most `max` units of `unit`.
pub fn split(text: &str, max: usize, unit: LengthUnit) -> Vec<String> {
    let len = |s: &str| unit.len(s);
    if len(text) <= max {
        return vec![text.to_string()];
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut remaining = text.to_string();
    // The language of a code block the previous chunk left open.
    let mut carry: Option<String> = None;
    loop {
        let prefix = carry.as_ref().map(|lang| format!("```{lang}\n")).unwrap_or_default();
        if len(&prefix) + len(&remaining) <= max.saturating_sub(INDICATOR_RESERVE) {
            let mut chunk = format!("{prefix}{remaining}");
            if open_fence(&chunk).is_some() {
                chunk.push_str(FENCE_CLOSE);
            }
            chunks.push(chunk);
            break;
        }
        let mut headroom =
            max as isize - INDICATOR_RESERVE as isize - len(&prefix) as isize - len(FENCE_CLOSE) as isize;
        if headroom < 1 {
            headroom = (max / 2).max(1) as isize;
        }
        let headroom = headroom as usize;
        let region = prefix_of_units(&remaining, headroom, unit);
        let mut cut = split_point(region);
        if cut == 0 {
            cut = region.len().max(remaining.chars().next().map_or(1, char::len_utf8));
        }
        let (head, tail) = remaining.split_at(cut);
        let mut chunk = format!("{prefix}{head}");
        carry = open_fence(&chunk);
        if carry.is_some() {
            chunk.push_str(FENCE_CLOSE);
        }
        chunks.push(chunk);
        remaining = tail.trim_start().to_string();
        if remaining.is_empty() {
            break;
        }
    }
    let n = chunks.len();
    if n > 1 {
        for (i, chunk) in chunks.iter_mut().enumerate() {
            chunk.push_str(&format!(" ({}/{n})", i + 1));
        }
    }
    chunks
}

/// The longest prefix of `text` within `units`, on a char boundary.
fn prefix_of_units(text: &str, units: usize, unit: LengthUnit) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = match unit {
            LengthUnit::Utf16 => c.len_utf16(),
            LengthUnit::Chars => 1,
            LengthUnit::Bytes => c.len_utf8(),
        };
        if used + w > units {
            return &text[..i];
        }
        used += w;
    }
    text
}

/// Where to cut `region` (a byte index): the last newline, else the last space when the
/// newline is in the first half, never inside an inline code span.
fn split_point(region: &str) -> usize {
    let mut cut = region.rfind('\n').unwrap_or(0);
    if cut < region.len() / 2 {
        cut = region.rfind(' ').unwrap_or(0);
    }
    if cut == 0 {
        return 0;
    }
    // An odd count of unescaped backticks before the cut means it falls inside `code`.
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

/// The language of a code fence left open at the end of `text` (`Some("")` for a fence
/// without one), `None` when every fence is closed.
fn open_fence(text: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            open = match open {
                Some(_) => None,
                None => Some(rest.trim().to_string()),
            };
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk_without_indicator() {
        assert_eq!(split("hello", 4096, LengthUnit::Utf16), ["hello"]);
    }

    #[test]
    fn long_text_splits_at_lines_with_indicators_within_the_limit() {
        let text = (0..200).map(|i| format!("line number {i}")).collect::<Vec<_>>().join("\n");
        let chunks = split(&text, 500, LengthUnit::Utf16);
        assert!(chunks.len() > 1);
        let n = chunks.len();
        for (i, c) in chunks.iter().enumerate() {
            assert!(LengthUnit::Utf16.len(c) <= 500, "chunk {i} is {} long", c.len());
            assert!(c.ends_with(&format!(" ({}/{n})", i + 1)));
        }
        let joined: String =
            chunks.iter().map(|c| c.rsplit_once(" (").unwrap().0.to_string()).collect::<Vec<_>>().join("\n");
        assert_eq!(joined, text);
    }

    #[test]
    fn code_fences_are_closed_and_reopened_with_their_language() {
        let body = (0..80).map(|i| format!("let x{i} = {i};")).collect::<Vec<_>>().join("\n");
        let text = format!("Here:\n```rust\n{body}\n```\nDone.");
        let chunks = split(&text, 400, LengthUnit::Utf16);
        assert!(chunks.len() > 2);
        for (i, c) in chunks.iter().enumerate() {
            let fences = c.matches("```").count();
            assert_eq!(fences % 2, 0, "chunk {i} has unbalanced fences: {c}");
            assert!(LengthUnit::Utf16.len(c) <= 400);
            if i > 0 && i + 1 < chunks.len() {
                assert!(c.starts_with("```rust\n"), "chunk {i}: {c}");
            }
        }
    }

    #[test]
    fn limits_count_utf16_units() {
        let text = "😀".repeat(3000); // 6000 UTF-16 units, 3000 chars, no spaces
        let chunks = split(&text, 4096, LengthUnit::Utf16);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| LengthUnit::Utf16.len(c) <= 4096));
        let emojis: usize = chunks.iter().map(|c| c.matches('😀').count()).sum();
        assert_eq!(emojis, 3000, "nothing lost, no emoji cut in half");
    }

    #[test]
    fn inline_code_is_not_split() {
        let text = format!("{} `some inline code span here` {}", "word ".repeat(60), "tail ".repeat(60));
        for c in split(&text, 320, LengthUnit::Utf16) {
            let body = c.rsplit_once(" (").unwrap().0;
            assert_eq!(unescaped_backticks(body) % 2, 0, "{body}");
        }
    }
}
