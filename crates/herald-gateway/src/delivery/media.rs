//! `MEDIA:<absolute path>` tags in a final answer (Hermes's convention for files the
//! agent produced): on a platform that can send media, each tagged file goes out as its
//! own message before the text, and the tag leaves the text.
//!
//! Only an absolute path to an existing regular file, without `..`, counts; anything
//! else stays in the text as written, so a model cannot make the gateway send
//! something it merely names.

use std::path::{Component, Path, PathBuf};

use herald_core::MediaKind;

const TAG: &str = "MEDIA:";

/// The kind a file is sent as, from its extension.
pub fn kind_of(path: &Path) -> MediaKind {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" => MediaKind::Photo,
        "mp4" | "mov" | "m4v" | "webm" => MediaKind::Video,
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
}
