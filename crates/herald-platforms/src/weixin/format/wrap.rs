//! Wrapping long plain lines so they can be copied on a phone: Hermes's
//! `_wrap_copy_friendly_lines_for_weixin`, which calls Python's `textwrap.wrap(line,
//! width, break_long_words=False, break_on_hyphens=False, replace_whitespace=False,
//! drop_whitespace=True)`; the textwrap algorithm is reproduced here.

use super::{chars, is_fence, is_table_rule};

/// Wraps every line longer than `width` characters, except inside code fences, table
/// rows (`|…`) and table rules; trims the result.
pub(super) fn wrap_long_lines(text: &str, width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    for raw in text.split('\n') {
        let line = raw.trim_end();
        let stripped = line.trim();
        if is_fence(stripped) {
            in_code = !in_code;
            out.push(line.to_string());
            continue;
        }
        if in_code
            || chars(line) <= width
            || stripped.is_empty()
            || stripped.starts_with('|')
            || is_table_rule(stripped)
        {
            out.push(line.to_string());
            continue;
        }
        let wrapped = textwrap(line, width);
        if wrapped.is_empty() {
            out.push(line.to_string());
        } else {
            out.extend(wrapped);
        }
    }
    out.join("\n").trim().to_string()
}

/// Python's `str.expandtabs(tabsize)`.
fn expand_tabs(line: &str, tabsize: usize) -> String {
    let mut out = String::with_capacity(line.len());
    let mut col = 0usize;
    for c in line.chars() {
        match c {
            '\t' => {
                let n = tabsize - col % tabsize;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' | '\r' => {
                out.push(c);
                col = 0;
            }
            _ => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// textwrap's whitespace: ASCII only (`\t\n\x0b\x0c\r `), not Unicode spaces.
fn is_wrap_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// Runs of whitespace and runs of everything else, in order (textwrap's
/// `wordsep_simple_re` split, used when `break_on_hyphens` is off).
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let ws = is_wrap_space(c);
        if prev.is_some_and(|p| p != ws) {
            out.push(&text[start..i]);
            start = i;
        }
        prev = Some(ws);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// textwrap's `_wrap_chunks` with `break_long_words=False` and `drop_whitespace=True`:
/// greedy filling; whitespace dropped at the end of every line and at the start of every
/// line but the first; a word longer than `width` goes on a line of its own.
fn textwrap(line: &str, width: usize) -> Vec<String> {
    let text = expand_tabs(line, 8);
    // Python tests `chunk.strip() == ''`, which is Unicode-aware.
    let blank = |c: &str| c.trim().is_empty();
    let mut rest: Vec<&str> = chunks(&text);
    rest.reverse();
    let mut lines: Vec<String> = Vec::new();
    while !rest.is_empty() {
        if !lines.is_empty() && rest.last().is_some_and(|c| blank(c)) {
            rest.pop();
        }
        let mut cur: Vec<&str> = Vec::new();
        let mut cur_len = 0usize;
        while let Some(&next) = rest.last() {
            let len = chars(next);
            if cur_len + len > width {
                break;
            }
            cur.push(next);
            cur_len += len;
            rest.pop();
        }
        if cur.is_empty()
            && let Some(&next) = rest.last()
            && chars(next) > width
        {
            cur.push(next);
            rest.pop();
        }
        if cur.last().is_some_and(|c| blank(c)) {
            cur.pop();
        }
        if !cur.is_empty() {
            lines.push(cur.concat());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_untouched() {
        assert_eq!(textwrap("a b c", 10), ["a b c"]);
        assert_eq!(wrap_long_lines("short\nlines", 120), "short\nlines");
    }

    #[test]
    fn greedy_fill_at_spaces() {
        // Python: textwrap.wrap("aaa bbb ccc ddd", 7, break_long_words=False, ...)
        assert_eq!(textwrap("aaa bbb ccc ddd", 7), ["aaa bbb", "ccc ddd"]);
        assert_eq!(textwrap("aaa bbb ccc ddd", 8), ["aaa bbb", "ccc ddd"]);
        assert_eq!(textwrap("aaa bbb ccc ddd", 11), ["aaa bbb ccc", "ddd"]);
        assert_eq!(textwrap("aaa    bbb", 5), ["aaa", "bbb"]);
    }

    #[test]
    fn long_words_are_not_broken() {
        assert_eq!(textwrap("a verylongword b", 5), ["a", "verylongword", "b"]);
        assert_eq!(textwrap("verylongword", 5), ["verylongword"]);
        // The first line's indentation is kept, unless a long word pushes it out.
        assert_eq!(textwrap("  ab cd ef", 6), ["  ab", "cd ef"]);
        assert_eq!(textwrap("  verylongword x", 5), ["verylongword", "x"]);
    }

    #[test]
    fn hyphens_do_not_break() {
        assert_eq!(textwrap("well-known-thing x", 10), ["well-known-thing", "x"]);
    }

    #[test]
    fn tabs_expand_to_eight_columns() {
        assert_eq!(expand_tabs("a\tb", 8), "a       b");
        assert_eq!(expand_tabs("\tx", 8), "        x");
        assert_eq!(expand_tabs("12345678\tx", 8), "12345678        x");
        assert_eq!(textwrap("aa\tbb", 4), ["aa", "bb"]);
    }

    #[test]
    fn unicode_spaces_are_not_break_points_and_width_counts_chars() {
        // U+3000 is not textwrap whitespace: the CJK run is one word.
        let cjk = "汉字\u{3000}汉字";
        assert_eq!(textwrap(&format!("{cjk} ab"), 5), [cjk, "ab"]);
        assert_eq!(textwrap("é é é", 3), ["é é", "é"]);
    }

    #[test]
    fn chunks_split_runs() {
        assert_eq!(chunks("a  b\tc "), ["a", "  ", "b", "\t", "c", " "]);
        assert_eq!(chunks(""), Vec::<&str>::new());
    }

    #[test]
    fn wrapping_skips_code_tables_and_rules() {
        let long = "x ".repeat(80).trim_end().to_string();
        let text = format!("{long}\n```\n{long}\n```\n|{long}\n{}", "|---|---|".repeat(20));
        let out = wrap_long_lines(&text, 120);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(chars(lines[0]), 119);
        assert_eq!(lines[1], "x ".repeat(20).trim_end());
        assert_eq!(lines[2], "```");
        assert_eq!(lines[3], long);
        assert_eq!(lines[5], format!("|{long}"));
    }
}
