//! Cutting reply text and tool arguments into stream pieces.
//!
//! Both splitters return borrowed slices whose concatenation is exactly the
//! input, so a client that joins the deltas must get the scripted text back
//! byte for byte; tests rely on that.

/// Splits `text` into at most `max_chunks` pieces at word boundaries.
///
/// Each piece is one or more whole words with the whitespace that follows them,
/// so no word is ever cut and no delta starts with a space (like a model's
/// tokens). Words are spread evenly over the pieces; text with fewer words than
/// `max_chunks` gets one piece per word. Empty text gives no pieces.
pub(crate) fn split_words(text: &str, max_chunks: usize) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let starts = word_starts(text);
    let pieces = max_chunks.max(1).min(starts.len());
    let mut out = Vec::with_capacity(pieces);
    let mut begin = 0;
    for i in 1..pieces {
        // Piece i starts at word floor(i * words / pieces): an even spread that
        // never gives a piece zero words because pieces <= words.
        let end = starts[i * starts.len() / pieces];
        out.push(&text[begin..end]);
        begin = end;
    }
    out.push(&text[begin..]);
    out
}

/// Byte offsets where each word's piece begins: 0, then every non-whitespace
/// character that follows whitespace. Leading whitespace stays with the first word.
fn word_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let mut seen_word = false;
    let mut after_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            after_space = true;
        } else {
            if after_space && seen_word {
                starts.push(i);
            }
            seen_word = true;
            after_space = false;
        }
    }
    starts
}

/// Splits `s` into at most `max_pieces` pieces of about equal length, cutting
/// only at char boundaries.
///
/// Used for tool-call arguments, which real servers stream as arbitrary
/// fragments of the JSON text (mid-key, mid-string), so a client must not
/// assume a fragment is parseable on its own. Empty input gives no pieces.
pub(crate) fn split_even(s: &str, max_pieces: usize) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let chars = s.chars().count();
    let pieces = max_pieces.max(1).min(chars);
    let mut out = Vec::with_capacity(pieces);
    let mut begin = 0;
    let mut boundaries = s.char_indices().map(|(i, _)| i);
    let mut taken = 0;
    for i in 1..pieces {
        let target = i * chars / pieces;
        // Advance the char iterator to the target char index; `nth` is relative.
        let end = boundaries.nth(target - taken).unwrap_or(s.len());
        taken = target + 1;
        out.push(&s[begin..end]);
        begin = end;
    }
    out.push(&s[begin..]);
    out
}

/// A rough token count for text: its number of words.
pub(crate) fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_one_piece_per_word_when_few() {
        assert_eq!(split_words("Hello there, friend!", 8), ["Hello ", "there, ", "friend!"]);
    }

    #[test]
    fn words_spread_evenly_when_many() {
        let pieces = split_words("a b c d e f g", 3);
        assert_eq!(pieces, ["a b ", "c d ", "e f g"]);
    }

    #[test]
    fn words_keep_all_whitespace() {
        let text = "  lead  and\ttabs\nnew line  ";
        for n in 1..10 {
            let pieces = split_words(text, n);
            assert_eq!(pieces.concat(), text, "n={n}");
            assert!(pieces.len() <= n.max(1));
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(split_words(text, 100)[0], "  lead  ");
    }

    #[test]
    fn words_edge_cases() {
        assert!(split_words("", 4).is_empty());
        assert_eq!(split_words("single", 4), ["single"]);
        assert_eq!(split_words("two words", 0), ["two words"]);
        assert_eq!(split_words("   ", 4), ["   "]);
    }

    #[test]
    fn words_unicode() {
        let text = "héllo wörld 你好 世界";
        assert_eq!(split_words(text, 10), ["héllo ", "wörld ", "你好 ", "世界"]);
    }

    #[test]
    fn even_pieces() {
        assert_eq!(split_even("abcdef", 3), ["ab", "cd", "ef"]);
        assert_eq!(split_even("abcdefg", 3), ["ab", "cd", "efg"]);
        assert_eq!(split_even("ab", 5), ["a", "b"]);
        assert_eq!(split_even("abc", 1), ["abc"]);
        assert_eq!(split_even("abc", 0), ["abc"]);
        assert!(split_even("", 3).is_empty());
    }

    #[test]
    fn even_respects_char_boundaries() {
        let s = r#"{"city":"Zürich","note":"日本語"}"#;
        for n in 1..40 {
            let pieces = split_even(s, n);
            assert_eq!(pieces.concat(), s, "n={n}");
            assert_eq!(pieces.len(), n.min(s.chars().count()));
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
    }

    #[test]
    fn counts_words() {
        assert_eq!(word_count(""), 0);
        assert_eq!(word_count(" one  two\nthree "), 3);
    }
}
