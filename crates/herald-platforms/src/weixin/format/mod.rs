//! Text for WeChat: [`format_message`] rewrites what the WeChat client shows badly and
//! normalises whitespace; [`split_text`] cuts the result into the bubbles to send
//! (Hermes §12.5).
//!
//! WeChat renders almost no Markdown: `#` headings and pipe tables arrive as raw
//! punctuation. Hermes rewrote them (H1 → `【Title】`, H2+ → `**Title**`, tables →
//! `- Header: value` rows) until 2026-04-15, when it switched to sending Markdown
//! unchanged; the issue asks for the rewriting, so herald does what Hermes did before that
//! date, plus the newer Hermes rules that survived it (blank-line collapsing outside code,
//! wrapping long lines at 120 characters so they are easy to copy on a phone).
//! Hermes's pre-2026-04-15 rewriting of `[text](url)` links is not done.
//!
//! Lengths are counted in Unicode scalar values (`char`s), as Python's `len` does, and as
//! WeChat's 2000-character limit is meant.

mod markdown;
mod split;
mod wrap;

#[cfg(test)]
mod props;

pub use split::{SplitMode, split_text};

/// Hermes's `WEIXIN_COPY_LINE_WIDTH`: plain lines longer than this are wrapped.
pub const COPY_LINE_WIDTH: usize = 120;

/// Hermes's `MAX_MESSAGE_LENGTH` for WeChat, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Prepares an answer for WeChat, in Hermes's order:
/// 1. every line right-trimmed; outside code fences, pipe tables become bullet rows and
///    `#` headings become `【Title】` (level 1) or `**Title**` (levels 2 to 6), and runs of
///    blank lines collapse to one; code fences are left byte for byte;
/// 2. the whole text trimmed;
/// 3. plain lines longer than [`COPY_LINE_WIDTH`] wrapped at spaces (words longer than
///    the width are not broken), except inside code fences, table rows (`|…`) and table
///    rules.
///
/// One addition: a code fence left open at the end is closed, so every bubble
/// [`split_text`] makes has balanced fences.
pub fn format_message(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let normalized = normalize(&text);
    let mut out = wrap::wrap_long_lines(&normalized, COPY_LINE_WIDTH);
    if open_fence_at_end(&out).is_some() {
        out.push_str("\n```");
    }
    out
}

/// Step 1 and 2 of [`format_message`].
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut in_code = false;
    let mut blank_run = 0usize;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_fence(line) {
            in_code = !in_code;
            out.push(line.to_string());
            blank_run = 0;
            i += 1;
            continue;
        }
        if in_code {
            out.push(line.to_string());
            i += 1;
            continue;
        }
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run == 1 {
                out.push(String::new());
            }
            i += 1;
            continue;
        }
        blank_run = 0;
        // A table is a row with a pipe followed by a rule; its body is every following
        // line with a pipe (as Hermes: the header row need not start with `|`), up to a
        // fence or the header of the next table (Hermes ran adjacent tables together).
        if line.contains('|') && lines.get(i + 1).is_some_and(|next| is_table_rule(next)) {
            let mut end = i + 2;
            while end < lines.len()
                && lines[end].contains('|')
                && !is_fence(lines[end])
                && !lines.get(end + 1).is_some_and(|next| is_table_rule(next))
            {
                end += 1;
            }
            out.push(markdown::rewrite_table(&lines[i..end]));
            i = end;
            continue;
        }
        out.push(markdown::rewrite_heading(line));
        i += 1;
    }
    out.join("\n").trim().to_string()
}

/// Hermes's `_FENCE_RE` (`^```([^\n`]*)\s*$`) on the trimmed line: three backticks and a
/// tag without backticks. Returns the tag. ```` ```inline``` ```` on one line is not a fence.
fn fence_tag(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("```")?;
    (!rest.contains('`')).then(|| rest.trim())
}

fn is_fence(line: &str) -> bool {
    fence_tag(line).is_some()
}

/// The tag of a fence left open at the end of `text` (`Some("")` for an untagged one).
fn open_fence_at_end(text: &str) -> Option<&str> {
    let mut open = None;
    for line in text.split('\n') {
        if let Some(tag) = fence_tag(line) {
            open = if open.is_some() { None } else { Some(tag) };
        }
    }
    open
}

/// Hermes's `_TABLE_RULE_RE`
/// (`^\s*\|?(?:\s*:?-{3,}:?\s*\|)+\s*:?-{3,}:?\s*\|?\s*$`): at least two cells of three or
/// more dashes, optionally with alignment colons, separated by pipes, with optional outer
/// pipes. A single-column rule (`|---|`) does not match, as in Hermes.
fn is_table_rule(line: &str) -> bool {
    let s = line.trim();
    let s = s.strip_prefix('|').unwrap_or(s);
    let s = s.strip_suffix('|').unwrap_or(s);
    let cells: Vec<&str> = s.split('|').collect();
    cells.len() >= 2
        && cells.iter().all(|cell| {
            let c = cell.trim();
            let c = c.strip_prefix(':').unwrap_or(c);
            let c = c.strip_suffix(':').unwrap_or(c);
            c.len() >= 3 && c.bytes().all(|b| b == b'-')
        })
}

/// Hermes's `_HEADER_RE` (`^(#{1,6})\s+(.+?)\s*$`): the level and the trimmed title.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    if !(1..=6).contains(&level) || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let title = rest.trim();
    (!title.is_empty()).then_some((level, title))
}

/// Length in Unicode scalar values.
fn chars(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_detection_matches_hermes_regex() {
        assert_eq!(fence_tag("```"), Some(""));
        assert_eq!(fence_tag("```rust"), Some("rust"));
        assert_eq!(fence_tag("   ```python  "), Some("python"));
        assert_eq!(fence_tag("```a b"), Some("a b"));
        assert_eq!(fence_tag("```inline```"), None);
        assert_eq!(fence_tag("``"), None);
        assert_eq!(fence_tag("~~~"), None);
        assert_eq!(fence_tag("text ```"), None);
    }

    #[test]
    fn table_rule_detection_matches_hermes_regex() {
        for yes in ["|---|---|", "---|---", "| :--- | ---: |", "|:---:|:---:|:---:|", "  ---|---|  ", "|----|------"] {
            assert!(is_table_rule(yes), "{yes:?}");
        }
        for no in ["|---|", "---", "|--|--|", "| a | b |", "", "||", "|---||---|", "|- --|---|", "|::---|---|"] {
            assert!(!is_table_rule(no), "{no:?}");
        }
    }

    #[test]
    fn heading_detection_matches_hermes_regex() {
        assert_eq!(heading("# Title"), Some((1, "Title")));
        assert_eq!(heading("###   Spaced out  "), Some((3, "Spaced out")));
        assert_eq!(heading("###### Six"), Some((6, "Six")));
        assert_eq!(heading("#\u{3000}全角空格"), Some((1, "全角空格")));
        for no in ["####### Seven", "#NoSpace", "# ", "#", " # indented", "text # not"] {
            assert_eq!(heading(no), None, "{no:?}");
        }
    }

    #[test]
    fn headings_are_rewritten() {
        assert_eq!(format_message("# 今日要闻"), "【今日要闻】");
        assert_eq!(format_message("## Section\ntext"), "**Section**\ntext");
        assert_eq!(format_message("###### Deep  "), "**Deep**");
        assert_eq!(format_message("####### seven"), "####### seven");
        assert_eq!(format_message("#hashtag"), "#hashtag");
    }

    #[test]
    fn nothing_is_rewritten_inside_code_fences() {
        let text = "```md\n# not a heading\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\n\nend  \n```";
        // Inside the fence only trailing spaces go; blank runs stay.
        assert_eq!(format_message(text), "```md\n# not a heading\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\n\nend\n```");
    }

    #[test]
    fn blank_runs_collapse_outside_code_and_ends_are_trimmed() {
        assert_eq!(format_message("\n\n  a  \n\n\n\nb\n \n\t\nc\n\n"), "a\n\nb\n\nc");
        assert_eq!(format_message("   "), "");
        assert_eq!(format_message(""), "");
    }

    #[test]
    fn crlf_and_cr_become_newlines() {
        assert_eq!(format_message("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn tables_become_bullets() {
        let text = "Prices:\n\n| Item | Price |\n|------|------:|\n| Tea | 3 |\n| Cake | 5 |\n\nThat's all.";
        assert_eq!(format_message(text), "Prices:\n\n- Item: Tea\n  Price: 3\n- Item: Cake\n  Price: 5\n\nThat's all.");
    }

    #[test]
    fn adjacent_tables_stay_apart() {
        let text = "| a | b |\n|---|---|\n| 1 | 2 |\n| x | y | z |\n|---|---|---|\n| 3 | 4 | 5 |";
        assert_eq!(format_message(text), "- a: 1\n  b: 2\n- x: 3 | y: 4 | z: 5");
    }

    #[test]
    fn long_plain_lines_wrap_but_code_and_tables_do_not() {
        let long = (0..40).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        assert!(chars(&long) > COPY_LINE_WIDTH);
        let out = format_message(&long);
        assert!(out.lines().count() > 1);
        assert!(out.lines().all(|l| chars(l) <= COPY_LINE_WIDTH));
        assert_eq!(out.split_whitespace().collect::<Vec<_>>(), long.split_whitespace().collect::<Vec<_>>());

        let code = format!("```\n{long}\n```");
        assert_eq!(format_message(&code), code);
        let row = format!("| {long} |");
        assert_eq!(format_message(&row), row);
    }

    #[test]
    fn open_fence_is_closed() {
        assert_eq!(format_message("see:\n```sh\nls -l"), "see:\n```sh\nls -l\n```");
        assert_eq!(format_message("```\na\n```"), "```\na\n```");
        assert_eq!(open_fence_at_end("```a\n```\n```b"), Some("b"));
    }

    #[test]
    fn format_is_idempotent_on_typical_answers() {
        let text = "# Report\n\nSome text.\n\n| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n\n```\ncode\n```\n\n## Next\n- item";
        let once = format_message(text);
        assert_eq!(format_message(&once), once);
    }
}
