//! Property checks of `format_message` + `split_text` over generated Markdown-ish answers
//! (paragraphs with long lines and long words, CJK runs, chatty lines, lists, code fences
//! with blank lines, headings, tables, blank runs, CRLF). A fixed-seed generator keeps the
//! runs reproducible; a failure prints the seed and the input.

use super::{COPY_LINE_WIDTH, SplitMode, chars, format_message, is_fence, is_table_rule, split_text};

/// xorshift64*: small, deterministic, good enough to vary test input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "agent",
    "微信",
    "消息",
    "a",
    "gateway",
    "`code`",
    "x=1,",
    "hello!",
    "数据",
    "test",
    "very",
    "long",
    "😀",
    "é",
    "well-known",
    "path/to/file.rs",
    "OK.",
    "多语言",
    "naïve",
];

fn word(rng: &mut Rng) -> String {
    match rng.below(40) {
        0 => "y".repeat(121 + rng.below(40)),
        1 | 2 => "汉".repeat(5 + rng.below(60)),
        _ => rng.pick(WORDS).to_string(),
    }
}

fn line_of_words(rng: &mut Rng, max_words: usize) -> String {
    let n = 1 + rng.below(max_words);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push_str(match rng.below(12) {
                0 => "  ",
                1 => "\t",
                _ => " ",
            });
        }
        s.push_str(&word(rng));
    }
    if rng.chance(5) {
        s.push_str("   ");
    }
    s
}

fn paragraph(rng: &mut Rng) -> String {
    (0..1 + rng.below(4)).map(|_| line_of_words(rng, 45)).collect::<Vec<_>>().join("\n")
}

fn chatty(rng: &mut Rng) -> String {
    (0..2 + rng.below(5))
        .map(|_| rng.pick(&["好的", "收到", "OK", "Sure thing", "稍等一下", "Done!"]).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn list(rng: &mut Rng) -> String {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(5) {
        out.push(format!("- {}", line_of_words(rng, 8)));
        if rng.chance(3) {
            out.push(format!("  {}", line_of_words(rng, 6)));
        }
    }
    out.join("\n")
}

/// Short code lines with spaces, so cuts at line breaks are always possible at the sizes
/// the content checks use.
fn code(rng: &mut Rng, close: bool) -> String {
    let tag = rng.pick(&["", "rust", "python", "sh"]);
    let mut out = vec![format!("```{tag}")];
    for i in 0..1 + rng.below(25) {
        if rng.chance(6) {
            out.push(String::new());
        }
        out.push(format!("{}let v{i} = {i}; // 注释", "    ".repeat(rng.below(3))));
    }
    if close {
        out.push("```".into());
    }
    out.join("\n")
}

fn heading(rng: &mut Rng) -> (String, String) {
    let title = format!("Title{}", rng.below(1000));
    (format!("{} {title}", "#".repeat(1 + rng.below(6))), title)
}

fn table(rng: &mut Rng) -> (String, Vec<String>) {
    let cols = 1 + rng.below(4);
    let header = (0..cols).map(|c| format!("H{c}")).collect::<Vec<_>>();
    let mut lines = vec![format!("| {} |", header.join(" | ")), format!("|{}|", vec!["---"; cols.max(2)].join("|"))];
    let mut values = Vec::new();
    for r in 0..1 + rng.below(4) {
        let row: Vec<String> = (0..cols).map(|c| format!("v{r}x{c}")).collect();
        values.extend(row.iter().cloned());
        lines.push(format!("| {} |", row.join(" | ")));
    }
    (lines.join("\n"), values)
}

/// A generated answer, and the strings a rich one must keep (heading titles, cell values).
fn document(rng: &mut Rng, rich: bool) -> (String, Vec<String>) {
    let mut parts = Vec::new();
    let mut keep = Vec::new();
    let n = 1 + rng.below(12);
    for i in 0..n {
        let last = i + 1 == n;
        let part = match rng.below(if rich { 7 } else { 5 }) {
            0 => chatty(rng),
            1 => list(rng),
            2 => {
                let close = !(last && rng.chance(4));
                code(rng, close)
            }
            3 | 4 => paragraph(rng),
            5 => {
                let (h, title) = heading(rng);
                keep.push(title);
                h
            }
            _ => {
                let (t, values) = table(rng);
                keep.extend(values);
                t
            }
        };
        parts.push(part);
        if !last {
            parts.push("\n".repeat(1 + rng.below(4)));
        }
    }
    let mut doc = parts.concat();
    if rng.chance(4) {
        doc = format!("\n  \n{doc}\n\n ");
    }
    if rng.chance(5) {
        doc = doc.replace('\n', "\r\n");
    }
    (doc, keep)
}

fn non_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The text without fence lines, whitespace removed.
fn content(s: &str) -> String {
    non_ws(&s.split('\n').filter(|l| !is_fence(l)).collect::<Vec<_>>().join("\n"))
}

/// A chunk without the truncator's ` (i/N)` mark.
fn unmarked(chunk: &str) -> &str {
    if let Some(open) = chunk.rfind(" (")
        && let Some(inner) = chunk[open + 2..].strip_suffix(')')
        && let Some((i, n)) = inner.split_once('/')
        && !i.is_empty()
        && !n.is_empty()
        && i.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
    {
        return &chunk[..open];
    }
    chunk
}

fn fence_lines(s: &str) -> usize {
    s.split('\n').filter(|l| is_fence(l)).count()
}

/// What a run exercised, so the properties are known not to hold vacuously.
#[derive(Debug, Default)]
struct Seen {
    wrapped: usize,
    packed: usize,
    truncated: usize,
    chatty: usize,
}

fn check(seed: u64, doc: &str, keep: &[String], rich: bool, seen: &mut Seen) {
    let ctx = || format!("seed {seed}, input {doc:?}");
    let f = format_message(doc);
    assert_eq!(fence_lines(&f) % 2, 0, "format leaves fences balanced; {}", ctx());

    // Long lines outside code and tables are wrapped, unless they are a single word.
    let mut in_code = false;
    for line in f.split('\n') {
        if is_fence(line) {
            in_code = !in_code;
            continue;
        }
        let t = line.trim();
        let single_word = !t.contains([' ', '\t']);
        assert!(
            in_code || chars(line) <= COPY_LINE_WIDTH || t.starts_with('|') || is_table_rule(t) || single_word,
            "unwrapped line {line:?}; {}",
            ctx()
        );
        if rich && !in_code {
            assert!(!(t.starts_with('#') && t.contains("Title")), "heading left: {line:?}; {}", ctx());
            assert!(!is_table_rule(t), "table left: {line:?}; {}", ctx());
        }
    }
    assert!(!f.contains("\n\n\n") || f.contains("```"), "blank run left; {}", ctx());

    if rich {
        let flat = non_ws(&f);
        for k in keep {
            assert!(flat.contains(&non_ws(k)), "lost {k:?}; {}", ctx());
        }
    } else {
        // Only whitespace changes (and a closing fence may be added).
        let added_close = fence_lines(doc.replace("\r\n", "\n").as_str()) % 2 == 1;
        let expected = if added_close { format!("{}```", non_ws(doc)) } else { non_ws(doc) };
        assert_eq!(non_ws(&f), expected, "format lost text; {}", ctx());
    }

    if f.split('\n').count() > doc.split('\n').count() {
        seen.wrapped += 1;
    }
    for mode in [SplitMode::Compact, SplitMode::PerLine] {
        for max in [1usize, 7, 20, 64, 120, 300, 2000] {
            let chunks = split_text(&f, max, mode);
            if mode == SplitMode::Compact && max == 300 && chunks.len() > 1 {
                seen.packed += 1;
                if chunks.iter().any(|c| unmarked(c).len() < c.len()) {
                    seen.truncated += 1;
                }
            }
            if mode == SplitMode::Compact && max == 2000 && chars(&f) <= 2000 && chunks.len() > 1 {
                seen.chatty += 1;
            }
            assert_eq!(chunks.is_empty(), f.trim().is_empty(), "{mode:?} {max}; {}", ctx());
            for c in &chunks {
                assert!(chars(c) <= max, "{mode:?} max {max}: chunk of {} chars {c:?}; {}", chars(c), ctx());
                assert!(!c.trim().is_empty(), "{mode:?} {max}: blank chunk; {}", ctx());
            }
            // Small limits may cut through a fence line; from 64 up, every cut has room.
            if max >= 64 {
                for c in &chunks {
                    assert_eq!(fence_lines(c) % 2, 0, "{mode:?} max {max}: unbalanced {c:?}; {}", ctx());
                }
                let got: String = chunks.iter().map(|c| content(unmarked(c))).collect();
                assert_eq!(got, content(&f), "{mode:?} max {max}: text lost; {}", ctx());
            } else {
                let got: String = chunks.iter().map(|c| non_ws(unmarked(c))).collect();
                assert!(got.len() >= non_ws(&f).len() / 2, "{mode:?} max {max}: most text lost; {}", ctx());
            }
        }
    }
}

#[test]
fn plain_answers_keep_their_text_and_respect_every_limit() {
    let mut seen = Seen::default();
    for seed in 1..=250u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (doc, keep) = document(&mut rng, false);
        check(seed, &doc, &keep, false, &mut seen);
    }
    assert!(seen.wrapped > 20 && seen.packed > 20 && seen.truncated > 5 && seen.chatty > 3, "{seen:?}");
}

#[test]
fn rich_answers_are_rewritten_and_respect_every_limit() {
    let mut seen = Seen::default();
    for seed in 1..=250u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let (doc, keep) = document(&mut rng, true);
        check(seed, &doc, &keep, true, &mut seen);
    }
    assert!(seen.wrapped > 20 && seen.packed > 20 && seen.truncated > 5 && seen.chatty > 3, "{seen:?}");
}

#[test]
fn a_long_answer_at_the_real_limit_is_ordered_chunks() {
    let mut rng = Rng(42);
    let paragraphs: Vec<String> = (0..40).map(|_| paragraph(&mut rng)).collect();
    let f = format_message(&paragraphs.join("\n\n"));
    let chunks = split_text(&f, super::MAX_MESSAGE_CHARS, SplitMode::Compact);
    assert!(chunks.len() > 1);
    assert!(chunks.iter().all(|c| chars(c) <= super::MAX_MESSAGE_CHARS));
    let got: String = chunks.iter().map(|c| non_ws(unmarked(c))).collect();
    assert_eq!(got, non_ws(&f), "in order, nothing lost");
}
