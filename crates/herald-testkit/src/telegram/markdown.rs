//! A MarkdownV2 parser with Telegram's rules (Bot API "Formatting options"), written
//! after the algorithm Telegram's own servers use (TDLib's `parse_markdown_v2`): one
//! pass over the bytes, a stack of open entities, and the same error texts.
//!
//! - A `\` before any character with code 1..=126 makes it ordinary, anywhere.
//! - Inside `code` and `pre` only `` ` `` is reserved (so `` ` `` and `\` must be escaped).
//! - Inside the `(...)` of a link, `)` and `\` must be escaped.
//! - Everywhere else `_*[]()~`>#+-=|{}.!` are reserved: each either opens or closes an
//!   entity or is an error ("Character 'X' is reserved and must be escaped with the
//!   preceding '\'").
//! - An entity still open at the end is an error ("Can't find end of Bold entity at
//!   byte offset N").
//! - `>` at the start of a line starts a block quote that lasts while lines start with `>`.
//!
//! Not modelled: the expandable block quote (`**>` ... `||`); herald never sends it.

use serde::Serialize;

/// One entity of the parsed text, as the Bot API's `MessageEntity` (offsets and
/// lengths in UTF-16 code units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: usize,
    pub length: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    PreCode,
    TextUrl,
    CustomEmoji,
}

impl Kind {
    /// The name Telegram's error texts use.
    fn error_name(self) -> &'static str {
        match self {
            Kind::Bold => "Bold",
            Kind::Italic => "Italic",
            Kind::Underline => "Underline",
            Kind::Strikethrough => "Strikethrough",
            Kind::Spoiler => "Spoiler",
            Kind::Code => "Code",
            Kind::Pre => "Pre",
            Kind::PreCode => "PreCode",
            Kind::TextUrl => "TextUrl",
            Kind::CustomEmoji => "CustomEmoji",
        }
    }

    /// The Bot API's `MessageEntity.type`.
    fn api_name(self) -> &'static str {
        match self {
            Kind::Bold => "bold",
            Kind::Italic => "italic",
            Kind::Underline => "underline",
            Kind::Strikethrough => "strikethrough",
            Kind::Spoiler => "spoiler",
            Kind::Code => "code",
            Kind::Pre | Kind::PreCode => "pre",
            Kind::TextUrl => "text_link",
            Kind::CustomEmoji => "custom_emoji",
        }
    }

    fn is_code(self) -> bool {
        matches!(self, Kind::Code | Kind::Pre | Kind::PreCode)
    }
}

struct Open {
    kind: Kind,
    language: Option<String>,
    utf16_offset: usize,
    byte_offset: usize,
    result_pos: usize,
}

const RESERVED: &[u8] = b"_*[]()~`>#+-=|{}.!";

fn reserved(c: u8) -> String {
    format!("Character '{}' is reserved and must be escaped with the preceding '\\'", c as char)
}

/// The UTF-16 units of a UTF-8 lead byte (0 for continuation bytes).
fn utf16_units(c: u8) -> usize {
    match c {
        0x00..=0x7f => 1,
        0x80..=0xbf => 0,
        0xc0..=0xef => 1,
        _ => 2,
    }
}

/// Parses MarkdownV2 `text` into the visible text and its entities. `Err` is the part
/// of the description after "Bad Request: can't parse entities: ".
pub fn parse(text: &str) -> Result<(String, Vec<Entity>), String> {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut entities = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut utf16 = 0usize;
    // The UTF-16 offset where the open block quote started.
    let mut quote: Option<usize> = None;
    let mut i = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        let in_code = stack.last().is_some_and(|o| o.kind.is_code());
        let line_start = i == 0 || bytes[i - 1] == b'\n';
        if line_start && !in_code {
            if c == b'>' {
                quote.get_or_insert(utf16);
                i += 1;
                continue;
            }
            if let Some(start) = quote.take() {
                // The quote ended with the previous line; its newline is not part of it.
                let end = utf16.saturating_sub(1);
                if end > start {
                    entities.push(entity("blockquote", start, end - start));
                }
            }
        }
        if c == b'\\' && (1..=126).contains(&at(i + 1)) {
            out.push(bytes[i + 1]);
            utf16 += 1;
            i += 2;
            continue;
        }
        let is_reserved = if in_code { c == b'`' } else { RESERVED.contains(&c) };
        if !is_reserved {
            utf16 += utf16_units(c);
            out.push(c);
            i += 1;
            continue;
        }
        let closes = stack.last().is_some_and(|top| match top.kind {
            Kind::Bold => c == b'*',
            Kind::Italic => c == b'_' && at(i + 1) != b'_',
            Kind::Code => c == b'`',
            Kind::Pre | Kind::PreCode => c == b'`' && at(i + 1) == b'`' && at(i + 2) == b'`',
            Kind::TextUrl | Kind::CustomEmoji => c == b']',
            Kind::Underline => c == b'_' && at(i + 1) == b'_',
            Kind::Strikethrough => c == b'~',
            Kind::Spoiler => c == b'|' && at(i + 1) == b'|',
        });
        if !closes {
            let byte_offset = i;
            let mut language = None;
            let kind = match c {
                b'_' if at(i + 1) == b'_' => {
                    i += 1;
                    Kind::Underline
                }
                b'_' => Kind::Italic,
                b'*' => Kind::Bold,
                b'~' => Kind::Strikethrough,
                b'|' if at(i + 1) == b'|' => {
                    i += 1;
                    Kind::Spoiler
                }
                b'[' => Kind::TextUrl,
                b'!' if at(i + 1) == b'[' => {
                    i += 1;
                    Kind::CustomEmoji
                }
                b'`' if at(i + 1) == b'`' && at(i + 2) == b'`' => {
                    i += 3;
                    let mut kind = Kind::Pre;
                    let mut end = i;
                    while end < bytes.len() && !bytes[end].is_ascii_whitespace() && bytes[end] != b'`' {
                        end += 1;
                    }
                    if i != end && end < bytes.len() && bytes[end] != b'`' {
                        kind = Kind::PreCode;
                        language = Some(text[i..end].to_string());
                        i = end;
                    }
                    // One newline right after the opening fence is not part of the code.
                    if at(i) == b'\n' || at(i) == b'\r' {
                        let pair = (at(i + 1) == b'\n' || at(i + 1) == b'\r') && at(i) != at(i + 1);
                        i += if pair { 2 } else { 1 };
                    }
                    i -= 1;
                    kind
                }
                b'`' => Kind::Code,
                other => return Err(reserved(other)),
            };
            stack.push(Open { kind, language, utf16_offset: utf16, byte_offset, result_pos: out.len() });
            i += 1;
            continue;
        }
        // The end of the innermost entity.
        let Some(open) = stack.pop() else { unreachable!("`closes` implies an open entity") };
        let mut url = None;
        let mut custom_emoji_id = None;
        match open.kind {
            Kind::Underline | Kind::Spoiler => i += 1,
            Kind::Pre | Kind::PreCode => i += 2,
            Kind::TextUrl | Kind::CustomEmoji => {
                let target = if at(i + 1) != b'(' {
                    // Telegram uses the link text itself as the URL.
                    String::from_utf8_lossy(&out[open.result_pos..]).into_owned()
                } else {
                    i += 2;
                    let url_begin = i;
                    let mut raw = Vec::new();
                    while i < bytes.len() && bytes[i] != b')' {
                        if bytes[i] == b'\\' && (1..=126).contains(&at(i + 1)) {
                            raw.push(bytes[i + 1]);
                            i += 2;
                            continue;
                        }
                        raw.push(bytes[i]);
                        i += 1;
                    }
                    if at(i) != b')' {
                        return Err(format!("Can't find end of a URL at byte offset {url_begin}"));
                    }
                    String::from_utf8_lossy(&raw).into_owned()
                };
                if open.kind == Kind::CustomEmoji {
                    let id = target.strip_prefix("tg://emoji?id=").unwrap_or("");
                    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!("Custom emoji URL must have an emoji identifier at byte offset {i}"));
                    }
                    custom_emoji_id = Some(id.to_string());
                } else {
                    url = Some(target);
                }
            }
            _ => {}
        }
        let length = utf16 - open.utf16_offset;
        // Empty entities are dropped silently (that is how `_**__` separates markers).
        let keep = length > 0 && url.as_deref().is_none_or(link_ok);
        if keep {
            let mut e = entity(open.kind.api_name(), open.utf16_offset, length);
            e.url = url;
            e.language = open.language;
            e.custom_emoji_id = custom_emoji_id;
            entities.push(e);
        }
        i += 1;
    }
    if let Some(open) = stack.last() {
        return Err(format!("Can't find end of {} entity at byte offset {}", open.kind.error_name(), open.byte_offset));
    }
    if let Some(start) = quote
        && utf16 > start
    {
        entities.push(entity("blockquote", start, utf16 - start));
    }
    entities.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
    // Only ASCII bytes were removed, so the rest is still UTF-8.
    let visible = String::from_utf8(out).map_err(|_| "Text must be encoded in UTF-8".to_string())?;
    Ok((visible, entities))
}

/// Telegram drops a text link whose URL it cannot use rather than failing.
fn link_ok(url: &str) -> bool {
    !url.trim().is_empty() && !url.chars().any(char::is_whitespace)
}

fn entity(kind: &str, offset: usize, length: usize) -> Entity {
    Entity { kind: kind.to_string(), offset, length, url: None, language: None, custom_emoji_id: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (String, Vec<(String, usize, usize)>) {
        let (visible, entities) = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        (visible, entities.into_iter().map(|e| (e.kind, e.offset, e.length)).collect())
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text)
    }

    fn e(kind: &str, offset: usize, length: usize) -> (String, usize, usize) {
        (kind.to_string(), offset, length)
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(ok("hello world"), ("hello world".into(), vec![]));
        assert_eq!(ok("a\\.b\\!"), ("a.b!".into(), vec![]));
        // A backslash before a non-ASCII character or at the end is an ordinary character.
        assert_eq!(ok("\\é \\"), ("\\é \\".into(), vec![]));
    }

    #[test]
    fn unescaped_reserved_characters_are_refused() {
        for c in ['.', '!', '-', '+', '=', '#', '{', '}', '(', ')', ']', '>', '|'] {
            let text = if c == '>' { "a>b".to_string() } else { format!("a{c}b") };
            assert_eq!(
                err(&text),
                format!("Character '{c}' is reserved and must be escaped with the preceding '\\'"),
                "{text}"
            );
        }
    }

    #[test]
    fn entities_are_parsed_with_utf16_offsets() {
        assert_eq!(ok("*bold* _it_"), ("bold it".into(), vec![e("bold", 0, 4), e("italic", 5, 2)]));
        assert_eq!(ok("😀*x*"), ("😀x".into(), vec![e("bold", 2, 1)]));
        assert_eq!(
            ok("__u__ ~s~ ||sp||"),
            ("u s sp".into(), vec![e("underline", 0, 1), e("strikethrough", 2, 1), e("spoiler", 4, 2)])
        );
        assert_eq!(ok("*bold _both_*"), ("bold both".into(), vec![e("bold", 0, 9), e("italic", 5, 4)]));
        assert_eq!(ok("___iu_**__"), ("iu".into(), vec![e("italic", 0, 2), e("underline", 0, 2)]));
    }

    #[test]
    fn code_only_reserves_backticks() {
        assert_eq!(ok("`a.b_c`"), ("a.b_c".into(), vec![e("code", 0, 5)]));
        let (visible, entities) = parse("```rust\nlet x = 1;\n```").unwrap();
        assert_eq!(visible, "let x = 1;\n");
        assert_eq!(entities[0].language.as_deref(), Some("rust"));
        assert_eq!(ok("```\nx.y\n```").0, "x.y\n");
        assert_eq!(ok("`a\\`b`").0, "a`b");
    }

    #[test]
    fn links_and_custom_emoji() {
        let (visible, entities) = parse("[site](https://example.com/a\\)b)").unwrap();
        assert_eq!(visible, "site");
        assert_eq!(entities[0].url.as_deref(), Some("https://example.com/a)b"));
        assert_eq!(err("[site](https://x"), "Can't find end of a URL at byte offset 7");
        let (_, entities) = parse("![👍](tg://emoji?id=5368324170671202286)").unwrap();
        assert_eq!(entities[0].custom_emoji_id.as_deref(), Some("5368324170671202286"));
    }

    #[test]
    fn unbalanced_entities_are_refused() {
        assert_eq!(err("*bold"), "Can't find end of Bold entity at byte offset 0");
        assert_eq!(err("ab _it"), "Can't find end of Italic entity at byte offset 3");
        assert_eq!(err("`code"), "Can't find end of Code entity at byte offset 0");
        assert_eq!(err("```\ncode"), "Can't find end of Pre entity at byte offset 0");
        assert_eq!(err("[x"), "Can't find end of TextUrl entity at byte offset 0");
        // Closing in the wrong order leaves the outer one open.
        assert!(err("*a _b* c_").starts_with("Can't find end of"));
    }

    #[test]
    fn block_quotes_start_lines() {
        assert_eq!(ok(">quoted\n>more\nafter"), ("quoted\nmore\nafter".into(), vec![e("blockquote", 0, 11)]));
        assert_eq!(ok("x\n>q"), ("x\nq".into(), vec![e("blockquote", 2, 1)]));
    }

    #[test]
    fn herald_escaping_is_accepted() {
        // What the adapter's escape() produces for every reserved character.
        let all = "_*[]()~`>#+-=|{}.!\\";
        let escaped: String = all.chars().flat_map(|c| ['\\', c]).collect();
        assert_eq!(ok(&escaped).0, all);
    }

    #[test]
    fn every_short_string_of_markup_characters_parses_or_fails_cleanly() {
        // Exhaustive over the characters that drive the parser, so no index runs past
        // the end and the visible text is always valid.
        let alphabet = ['_', '*', '[', ']', '(', ')', '~', '`', '>', '|', '!', '\\', 'a', '\n', 'é'];
        let mut stack = vec![String::new()];
        while let Some(s) = stack.pop() {
            if let Ok((visible, entities)) = parse(&s) {
                let units = visible.encode_utf16().count();
                assert!(entities.iter().all(|e| e.offset + e.length <= units), "{s:?}");
            }
            if s.chars().count() < 4 {
                for c in alphabet {
                    stack.push(format!("{s}{c}"));
                }
            }
        }
    }
}
