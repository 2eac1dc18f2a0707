//! The model's Markdown to Telegram MarkdownV2.
//!
//! MarkdownV2 was chosen over HTML because its escaping rule is one rule (a backslash
//! before any of `_*[]()~`>#+-=|{}.!`) and Hermes uses it too, so answers look the same.
//! Supported: bold (`**x**`, `__x__`), italic (`*x*`, `_x_`), strike (`~~x~~`), inline
//! code, fenced code with a language, links, headings (rendered bold) and block
//! quotes. Everything else, including unmatched markers, is escaped and shows
//! literally. Telegram rejecting the result anyway ("can't parse entities") is handled
//! by the caller, which resends the original text as plain text.

/// Characters MarkdownV2 requires escaped in ordinary text.
const SPECIAL: &[char] =
    &['_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\'];

/// Escapes ordinary text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes the inside of `code` and ```pre``` entities: only `` ` `` and `\`.
fn escape_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '`' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a link target: only `)` and `\`.
fn escape_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == ')' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Converts Markdown to MarkdownV2.
pub fn to_markdown_v2(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 8);
    let mut lines = markdown.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        if !first {
            out.push('\n');
        }
        first = false;
        let trimmed = line.trim_start();
        if let Some(fence_rest) = trimmed.strip_prefix("```") {
            // A fenced block: collect until the closing fence (or the end).
            let lang: String =
                fence_rest.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(*c)).collect();
            let mut body = Vec::new();
            let mut closed = false;
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    closed = true;
                    break;
                }
                body.push(inner);
            }
            if !closed && body.is_empty() && fence_rest.trim().is_empty() {
                // A lone ``` at the end: literal.
                out.push_str(&escape(line));
                continue;
            }
            out.push_str("```");
            out.push_str(&lang);
            out.push('\n');
            out.push_str(&escape_code(&body.join("\n")));
            out.push_str("\n```");
            continue;
        }
        if let Some(heading) = heading_text(trimmed) {
            let inner = inline(heading);
            if inner.is_empty() {
                continue;
            }
            out.push('*');
            out.push_str(&inner);
            out.push('*');
            continue;
        }
        if let Some(quote) = trimmed.strip_prefix('>') {
            out.push('>');
            out.push_str(&inline(quote.strip_prefix(' ').unwrap_or(quote)));
            continue;
        }
        out.push_str(&inline(line));
    }
    out
}

fn heading_text(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) {
        let rest = &line[hashes..];
        if rest.is_empty() || rest.starts_with(' ') {
            return Some(rest.trim().trim_end_matches('#').trim_end());
        }
    }
    None
}

/// Converts the inline spans of one line.
fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    convert(&chars, &mut out, 0);
    out
}

/// Deep nesting is cut off so that hostile input cannot exhaust the stack; beyond the
/// limit the text is only escaped.
const MAX_DEPTH: usize = 8;

fn convert(chars: &[char], out: &mut String, depth: usize) {
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if depth < MAX_DEPTH {
            if c == '`'
                && let Some(end) = find(chars, i + 1, &['`'])
                && end > i + 1
            {
                out.push('`');
                out.push_str(&escape_code(&chars[i + 1..end].iter().collect::<String>()));
                out.push('`');
                i = end + 1;
                continue;
            }
            if let Some((marker, entity)) = span_marker(chars, i)
                && let Some(end) = find_closing(chars, i + marker.len(), marker)
            {
                out.push_str(entity);
                convert(&chars[i + marker.len()..end], out, depth + 1);
                out.push_str(entity);
                i = end + marker.len();
                continue;
            }
            if c == '['
                && let Some((label_end, url_end)) = link(chars, i)
            {
                out.push('[');
                convert(&chars[i + 1..label_end], out, depth + 1);
                out.push_str("](");
                out.push_str(&escape_url(&chars[label_end + 2..url_end].iter().collect::<String>()));
                out.push(')');
                i = url_end + 1;
                continue;
            }
        }
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
}

/// The Markdown marker starting at `i` and the MarkdownV2 marker it becomes.
fn span_marker(chars: &[char], i: usize) -> Option<(&'static [char], &'static str)> {
    let at = |k: usize| chars.get(i + k).copied();
    let prev_word = i > 0 && chars[i - 1].is_alphanumeric();
    match (at(0), at(1)) {
        (Some('*'), Some('*')) => Some((&['*', '*'], "*")),
        (Some('_'), Some('_')) if !prev_word => Some((&['_', '_'], "*")),
        (Some('~'), Some('~')) => Some((&['~', '~'], "~")),
        (Some('*'), Some(n)) if !n.is_whitespace() => Some((&['*'], "_")),
        (Some('_'), Some(n)) if !n.is_whitespace() && !prev_word => Some((&['_'], "_")),
        _ => None,
    }
}

/// The index of the closing `marker` after `from`: not preceded by whitespace, not
/// directly after the opening marker, and for `_` not inside a word.
fn find_closing(chars: &[char], from: usize, marker: &[char]) -> Option<usize> {
    let mut j = from + 1;
    while j + marker.len() <= chars.len() {
        if chars[j..j + marker.len()] == *marker && !chars[j - 1].is_whitespace() {
            let next = chars.get(j + marker.len()).copied();
            let single_star_ok = !(marker == ['*'] && next == Some('*'));
            let underscore_ok = marker[0] != '_' || !next.is_some_and(char::is_alphanumeric);
            if single_star_ok && underscore_ok {
                return Some(j);
            }
        }
        if chars[j] == '`' {
            // Skip code spans inside the span so their markers do not close it.
            if let Some(end) = find(chars, j + 1, &['`']) {
                j = end + 1;
                continue;
            }
        }
        j += 1;
    }
    None
}

fn find(chars: &[char], from: usize, any: &[char]) -> Option<usize> {
    (from..chars.len()).find(|&k| any.contains(&chars[k]))
}

/// `[label](url)` at `i`: the index of `]` and of the closing `)`.
fn link(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut label_end = None;
    for (k, &ch) in chars.iter().enumerate().skip(i + 1) {
        match ch {
            '[' => depth += 1,
            ']' if depth == 0 => {
                label_end = Some(k);
                break;
            }
            ']' => depth -= 1,
            _ => {}
        }
    }
    let label_end = label_end?;
    if chars.get(label_end + 1) != Some(&'(') || label_end == i + 1 {
        return None;
    }
    let mut parens = 0usize;
    for (k, &ch) in chars.iter().enumerate().skip(label_end + 2) {
        match ch {
            '(' => parens += 1,
            ')' if parens == 0 => {
                let url: String = chars[label_end + 2..k].iter().collect();
                let ok = !url.is_empty() && !url.chars().any(char::is_whitespace);
                return ok.then_some((label_end, k));
            }
            ')' => parens -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_escaped() {
        assert_eq!(to_markdown_v2("1+1=2. Done!"), "1\\+1\\=2\\. Done\\!");
        assert_eq!(to_markdown_v2("a_b (c) {d} #e |f| -g >h"), "a\\_b \\(c\\) \\{d\\} \\#e \\|f\\| \\-g \\>h");
        assert_eq!(to_markdown_v2("back\\slash"), "back\\\\slash");
    }

    #[test]
    fn bold_italic_strike() {
        assert_eq!(to_markdown_v2("**bold** and __also__"), "*bold* and *also*");
        assert_eq!(to_markdown_v2("*it* and _it_"), "_it_ and _it_");
        assert_eq!(to_markdown_v2("~~gone~~"), "~gone~");
        assert_eq!(to_markdown_v2("**bold with *italic* inside**"), "*bold with _italic_ inside*");
        assert_eq!(to_markdown_v2("**a.b**"), "*a\\.b*");
    }

    #[test]
    fn unmatched_markers_and_snake_case_stay_literal() {
        assert_eq!(to_markdown_v2("2 * 3 = 6"), "2 \\* 3 \\= 6");
        assert_eq!(to_markdown_v2("snake_case_name"), "snake\\_case\\_name");
        assert_eq!(to_markdown_v2("**open"), "\\*\\*open");
        assert_eq!(to_markdown_v2("a ` b"), "a \\` b");
    }

    #[test]
    fn code_spans_and_blocks() {
        assert_eq!(to_markdown_v2("run `ls -la *.rs`"), "run `ls -la *.rs`");
        assert_eq!(to_markdown_v2("`a\\b`"), "`a\\\\b`");
        assert_eq!(
            to_markdown_v2("Try:\n```rust\nfn main() { println!(\"`hi`\"); }\n```\nok."),
            "Try:\n```rust\nfn main() { println!(\"\\`hi\\`\"); }\n```\nok\\."
        );
        assert_eq!(to_markdown_v2("```\nno lang\n```"), "```\nno lang\n```");
        assert_eq!(to_markdown_v2("```py\nunclosed"), "```py\nunclosed\n```");
    }

    #[test]
    fn links() {
        assert_eq!(
            to_markdown_v2("see [the docs](https://example.com/a_(b)) now"),
            "see [the docs](https://example.com/a_(b\\)) now"
        );
        assert_eq!(to_markdown_v2("[**bold** link](http://x.y)"), "[*bold* link](http://x.y)");
        assert_eq!(to_markdown_v2("[not a link] (x)"), "\\[not a link\\] \\(x\\)");
    }

    #[test]
    fn headings_and_quotes() {
        assert_eq!(to_markdown_v2("# Title\n## Plan."), "*Title*\n*Plan\\.*");
        assert_eq!(to_markdown_v2("#hashtag"), "\\#hashtag");
        assert_eq!(to_markdown_v2("> quoted *text*"), ">quoted _text_");
        assert_eq!(to_markdown_v2("- item\n1. first"), "\\- item\n1\\. first");
    }

    #[test]
    fn hostile_nesting_does_not_recurse_forever() {
        let deep = "**".repeat(5000) + "x" + &"**".repeat(5000);
        let out = to_markdown_v2(&deep);
        assert!(out.contains('x'));
        let brackets = "[".repeat(3000) + "a](b)" + &")".repeat(3000);
        assert!(to_markdown_v2(&brackets).contains('a'));
    }
}
