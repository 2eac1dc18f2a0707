//! Splitting a long answer into messages the platform accepts (Hermes's
//! `truncate_message`, shared with the adapters in [`herald_core::truncate`]).

use herald_core::LengthUnit;

/// Splits `text` into chunks of at most `max` units of `unit`.
pub fn split(text: &str, max: usize, unit: LengthUnit) -> Vec<String> {
    herald_core::truncate::truncate_message(text, max, unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped_backticks(s: &str) -> usize {
        let b = s.as_bytes();
        (0..b.len()).filter(|&i| b[i] == b'`' && (i == 0 || b[i - 1] != b'\\')).count()
    }

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
