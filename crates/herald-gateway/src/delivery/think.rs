//! Removes reasoning blocks (`<think>…</think>` and its kin) from streamed text, as
//! Hermes's stream consumer does, so a model that thinks out loud never shows it.
//!
//! An open tag counts only at a block boundary (start of output, or a line holding only
//! whitespace before it), so prose that mentions `<think>` is kept. Tags split across
//! deltas are held back until they can be decided.

const TAGS: &[&str] = &["reasoning_scratchpad", "thinking", "reasoning", "thought", "think"];

/// The longest close tag, `</reasoning_scratchpad>`.
const MAX_CLOSE: usize = 2 + 20 + 1;

#[derive(Debug, Default)]
pub struct ThinkFilter {
    /// Text not yet decided (a possible partial tag at the end).
    pending: String,
    in_block: bool,
    /// Whether only whitespace has been emitted since the last newline (or nothing yet).
    at_line_start: bool,
    /// An orphan close tag was just removed: whitespace after it goes too.
    eat_whitespace: bool,
}

enum Tag {
    Open(usize),
    Close(usize),
}

/// The tag at the start of `s` (case-insensitive) and its byte length, `None` if none,
/// `Err(())` if `s` is a proper prefix of some tag (undecidable yet).
fn tag_at(s: &str) -> Result<Option<Tag>, ()> {
    let lower: String = s.chars().take(MAX_CLOSE + 1).collect::<String>().to_ascii_lowercase();
    let mut partial = false;
    for tag in TAGS {
        for (close, text) in [(false, format!("<{tag}>")), (true, format!("</{tag}>"))] {
            if lower.starts_with(&text) {
                return Ok(Some(if close { Tag::Close(text.len()) } else { Tag::Open(text.len()) }));
            }
            if text.starts_with(&lower) {
                partial = true;
            }
        }
    }
    if partial { Err(()) } else { Ok(None) }
}

impl ThinkFilter {
    pub fn new() -> ThinkFilter {
        ThinkFilter { at_line_start: true, ..ThinkFilter::default() }
    }

    /// Feeds a delta; returns the text that may be shown now.
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        self.drain(false)
    }

    /// The end of the stream: returns what was held back and may be shown.
    pub fn finish(&mut self) -> String {
        self.drain(true)
    }

    fn drain(&mut self, end: bool) -> String {
        let mut out = String::new();
        let text = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if self.eat_whitespace {
                let trimmed = rest.trim_start();
                i += rest.len() - trimmed.len();
                if trimmed.is_empty() {
                    return out;
                }
                self.eat_whitespace = false;
                continue;
            }
            if self.in_block {
                // Drop up to the earliest close tag.
                match find_close(rest) {
                    Some((at, len)) => {
                        self.in_block = false;
                        i += at + len;
                    }
                    None => {
                        if !end {
                            // Keep a tail that could be the start of a close tag.
                            let keep = rest.char_indices().rev().take(MAX_CLOSE).last().map_or(0, |(k, _)| k);
                            self.pending = rest[keep..].to_string();
                        }
                        return out;
                    }
                }
                continue;
            }
            if rest.starts_with('<') {
                match tag_at(rest) {
                    Err(()) if !end => {
                        self.pending = rest.to_string();
                        return out;
                    }
                    Ok(Some(Tag::Open(len))) if self.at_line_start => {
                        self.in_block = true;
                        i += len;
                        continue;
                    }
                    Ok(Some(Tag::Close(len))) => {
                        // An orphan close tag goes, with the whitespace after it.
                        self.eat_whitespace = true;
                        i += len;
                        continue;
                    }
                    _ => {}
                }
            }
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            if c == '\n' {
                self.at_line_start = true;
            } else if !c.is_whitespace() {
                self.at_line_start = false;
            }
            i += c.len_utf8();
        }
        out
    }
}

fn find_close(s: &str) -> Option<(usize, usize)> {
    let lower = s.to_ascii_lowercase();
    TAGS.iter()
        .filter_map(|tag| {
            let close = format!("</{tag}>");
            lower.find(&close).map(|at| (at, close.len()))
        })
        .min_by_key(|(at, _)| *at)
}

/// Filters a whole text at once.
pub fn strip(text: &str) -> String {
    let mut f = ThinkFilter::new();
    let mut out = f.push(text);
    out.push_str(&f.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_pieces(pieces: &[&str]) -> String {
        let mut f = ThinkFilter::new();
        let mut out: String = pieces.iter().map(|p| f.push(p)).collect();
        out.push_str(&f.finish());
        out
    }

    /// Hermes's acceptance vectors (§15.1 item 9), whole and split at every char.
    #[test]
    fn hermes_vectors_whole_and_split_anywhere() {
        let cases = [
            ("Prefix\n<think>reasoning</think>\nSuffix", "Prefix\n\nSuffix"),
            ("The <think> tag is used", "The <think> tag is used"),
            ("<think>hidden</think>shown", "shown"),
            ("ok</think> done", "okdone"),
            ("  <Thought>x</Thought>y", "  y"),
            ("<thi", "<thi"),
            ("Before\n<think>never ends", "Before\n"),
            ("<REASONING_SCRATCHPAD>plan</REASONING_SCRATCHPAD>answer", "answer"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip(input), expected, "whole: {input:?}");
            let idx: Vec<usize> = input.char_indices().map(|(i, _)| i).skip(1).collect();
            for &cut in &idx {
                let (a, b) = input.split_at(cut);
                assert_eq!(by_pieces(&[a, b]), expected, "split at {cut}: {input:?}");
            }
        }
        assert_eq!(by_pieces(&["<thi", "nk>hidden</think>shown"]), "shown");
    }
}
