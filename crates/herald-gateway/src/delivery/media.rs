//! `MEDIA:<absolute path>` tags in a final answer (Hermes's convention for files the
//! agent produced): on a platform that can send media, each tagged file goes out as its
//! own message before the text, and the tag leaves the text.
//!
//! Only an absolute path to an existing regular file, without `..`, counts; anything
//! else stays in the text as written, so a model cannot make the gateway send
//! something it merely names.
//!
//! Bare paths to images and videos count too (Hermes's `extract_local_files`): an
//! absolute or `~/` path ending in one of [`BARE_EXTS`], outside code, not inside a URL
//! or a relative path, naming an existing file. Other files need the tag.

use std::path::{Component, Path, PathBuf};

use herald_core::MediaKind;

const TAG: &str = "MEDIA:";

/// The kind a file is sent as, from its extension.
pub fn kind_of(path: &Path) -> MediaKind {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" => MediaKind::Photo,
        "mp4" | "mov" | "m4v" | "webm" | "avi" | "mkv" => MediaKind::Video,
        "ogg" | "oga" | "opus" | "silk" => MediaKind::Voice,
        "mp3" | "wav" | "m4a" | "flac" | "aac" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

fn sendable(path: &Path) -> bool {
    path.is_absolute() && !path.components().any(|c| c == Component::ParentDir) && path.is_file()
}

/// The tagged files, in order, and the text without their tags (a line that held only
/// tags is dropped).
pub fn extract(text: &str) -> (Vec<PathBuf>, String) {
    let mut files = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let (found, rest) = extract_line(line);
        if !found.is_empty() && rest.trim().is_empty() {
            files.extend(found);
            continue;
        }
        files.extend(found);
        lines.push(rest);
    }
    (files, lines.join("\n").trim().to_string())
}

/// The extensions a bare path needs to be sent (Hermes's `_LOCAL_MEDIA_EXTS`).
pub const BARE_EXTS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp", "mp4", "mov", "avi", "mkv", "webm"];

/// Python's `\w` as Hermes's pattern uses it.
fn word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn path_char(c: char) -> bool {
    word(c) || c == '.' || c == '-' || c == '/'
}

/// Byte ranges of fenced code blocks and inline code spans.
fn code_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find("```").map(|i| at + i) {
        let close = text[open + 3..].find("```").map(|i| open + 3 + i + 3).unwrap_or(text.len());
        spans.push((open, close));
        at = close;
    }
    let fenced = spans.clone();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut open: Option<usize> = None;
        for (i, c) in line.char_indices() {
            let pos = line_start + i;
            if c != '`' || fenced.iter().any(|&(s, e)| s <= pos && pos < e) {
                continue;
            }
            match open.take() {
                Some(o) if pos > o + 1 => spans.push((o, pos + 1)),
                Some(_) => {}
                None => open = Some(pos),
            }
        }
        line_start += line.len();
    }
    spans
}

/// The longest prefix of `run` (a path's characters) that ends in `.ext` followed by
/// a non-word character, with no empty segment.
fn bare_end(run: &str) -> Option<usize> {
    let mut best = None;
    for (dot, _) in run.match_indices('.') {
        for ext in BARE_EXTS {
            let end = dot + 1 + ext.len();
            let Some(candidate) = run.get(dot + 1..end) else { continue };
            let bounded = run[end..].chars().next().is_none_or(|c| !word(c));
            if candidate.eq_ignore_ascii_case(ext) && bounded && dot > 0 && !run[..dot].ends_with('/') {
                best = best.max(Some(end));
            }
        }
    }
    best.filter(|&end| !run[..end].contains("//"))
}

fn expand_home(raw: &str) -> Option<PathBuf> {
    match raw.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)),
        None => Some(PathBuf::from(raw)),
    }
}

/// Bare image and video paths outside code, in order, and the text without them (a
/// line that held only paths is dropped).
pub fn extract_bare(text: &str) -> (Vec<PathBuf>, String) {
    let code = code_spans(text);
    let mut files = Vec::new();
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut prev: Option<char> = None;
    let mut skip_to = 0;
    for (i, c) in text.char_indices() {
        let before = prev.replace(c);
        if i < skip_to || !(c == '/' || (c == '~' && text[i..].starts_with("~/"))) {
            continue;
        }
        if before.is_some_and(|b| word(b) || b == '/' || b == ':' || b == '.') {
            continue;
        }
        if code.iter().any(|&(s, e)| s <= i && i < e) {
            continue;
        }
        let start = if c == '~' { i + 2 } else { i + 1 };
        let len = text[start..].find(|ch: char| !path_char(ch)).unwrap_or(text.len() - start);
        let Some(end) = bare_end(&text[i..start + len]).map(|e| i + e) else { continue };
        skip_to = end;
        let Some(path) = expand_home(&text[i..end]).filter(|p| sendable(p)) else { continue };
        if !files.contains(&path) {
            files.push(path);
        }
        cut.push((i, end));
    }
    if cut.is_empty() {
        return (files, text.to_string());
    }
    let mut rest = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e) in cut {
        rest.push_str(&text[at..s.max(at)]);
        // "at /x.png as" leaves one space, not two.
        at = if rest.ends_with(' ') && text[e..].starts_with(' ') { e + 1 } else { e };
    }
    rest.push_str(&text[at..]);
    let lines: Vec<&str> = rest
        .lines()
        .zip(text.lines().map(|l| l.trim().is_empty()))
        .filter(|(l, was_blank)| !l.trim().is_empty() || *was_blank)
        .map(|(l, _)| l.trim_end())
        .collect();
    (files, lines.join("\n").trim().to_string())
}

fn extract_line(line: &str) -> (Vec<PathBuf>, String) {
    let mut files = Vec::new();
    let mut rest = String::with_capacity(line.len());
    let mut tail = line;
    while let Some(at) = tail.find(TAG) {
        let after = &tail[at + TAG.len()..];
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let path = PathBuf::from(after[..end].trim_matches(|c| c == '`' || c == '"' || c == '\''));
        if sendable(&path) {
            rest.push_str(tail[..at].trim_end());
            files.push(path);
        } else {
            rest.push_str(&tail[..at + TAG.len() + end]);
        }
        tail = &after[end..];
    }
    rest.push_str(tail);
    (files, rest.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_are_taken_and_their_tags_removed() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("chart.png");
        std::fs::write(&png, b"x").unwrap();
        let text = format!("Here is the chart:\nMEDIA:{}\nAnything else?", png.display());
        let (files, rest) = extract(&text);
        assert_eq!(files, std::slice::from_ref(&png));
        assert_eq!(rest, "Here is the chart:\nAnything else?");
        assert_eq!(kind_of(&png), MediaKind::Photo);
        assert_eq!(kind_of(Path::new("/a/b.pdf")), MediaKind::Document);
    }

    #[test]
    fn missing_relative_or_climbing_paths_stay_in_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("a.txt");
        std::fs::write(&real, b"x").unwrap();
        let climbing =
            format!("{}/../{}/a.txt", dir.path().display(), dir.path().file_name().unwrap().to_str().unwrap());
        for text in ["MEDIA:relative.png".to_string(), "MEDIA:/no/such/file.png".into(), format!("MEDIA:{climbing}")] {
            let (files, rest) = extract(&text);
            assert!(files.is_empty(), "{text}");
            assert_eq!(rest, text);
        }
        assert_eq!(extract("no tags here").1, "no tags here");
    }

    #[test]
    fn bare_image_paths_are_taken_outside_code_urls_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("plot.PNG");
        let mp4 = dir.path().join("clip.mp4");
        let pdf = dir.path().join("report.pdf");
        for f in [&png, &mp4, &pdf] {
            std::fs::write(f, b"x").unwrap();
        }
        let (p, m, d) = (png.display(), mp4.display(), pdf.display());
        let text = format!(
            "Saved to {p}.\n{m}\nThe report: {d}\nCode: `{p}` and\n```\n{m}\n```\nSee https://x.test{p} or .{p}"
        );
        let (files, rest) = extract_bare(&text);
        assert_eq!(files, [png.clone(), mp4.clone()]);
        assert_eq!(
            rest,
            format!("Saved to .\nThe report: {d}\nCode: `{p}` and\n```\n{m}\n```\nSee https://x.test{p} or .{p}")
        );
        let missing = format!("{}/gone.png and /etc", dir.path().display());
        assert_eq!(extract_bare(&missing), (vec![], missing.clone()));
        assert_eq!(kind_of(Path::new("/a/b.mkv")), MediaKind::Video);
    }

    #[test]
    fn bare_paths_keep_blank_lines_and_never_panic_on_odd_text() {
        let (files, rest) = extract_bare("one\n\ntwo");
        assert!(files.is_empty());
        assert_eq!(rest, "one\n\ntwo");
        for odd in ["/", "~/", "/.png", "//a.png", "/a/.png", "é/ü.png`", "`/a.png", "```/a.png", "/a.png-"] {
            let _ = extract_bare(odd);
        }
    }
}
