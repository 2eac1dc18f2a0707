//! Downloads the files of an inbound message into the local cache before the message is
//! delivered, so the turn can read them: `getFile`, then `GET /file/bot<token>/<path>`,
//! streamed to a temporary file, checked against the size cap both from `file_size`
//! and while streaming, then renamed into place.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use herald_core::{Attachment, MediaKind};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::api::{Api, ApiError, CALL_TIMEOUT};
use super::parse::MediaRef;
use super::types::File;

pub use crate::MediaError;

/// The cache subdirectory for a kind, as in Hermes's `cache/{images,audio,videos,documents}`.
pub fn cache_subdir(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo | MediaKind::Sticker => "images",
        MediaKind::Voice | MediaKind::Audio => "audio",
        MediaKind::Video => "videos",
        MediaKind::Document => "documents",
    }
}

fn default_ext(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo => "jpg",
        MediaKind::Voice => "ogg",
        MediaKind::Audio => "mp3",
        MediaKind::Video => "mp4",
        MediaKind::Document => "bin",
        MediaKind::Sticker => "webp",
    }
}

/// Keeps `[A-Za-z0-9_-]`, at most 64 characters: file names come from outside.
fn safe_component(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(64).collect()
}

/// The extension of Telegram's `file_path` or the original file name, if it is short
/// and alphanumeric.
fn extension(candidates: &[Option<&str>], kind: MediaKind) -> String {
    for c in candidates.iter().flatten() {
        if let Some((_, ext)) = c.rsplit_once('.') {
            let ext = ext.to_ascii_lowercase();
            if (1..=8).contains(&ext.len()) && ext.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                return ext;
            }
        }
    }
    default_ext(kind).to_string()
}

/// Whether a `file_path` from Telegram is safe to put in a URL path.
fn path_ok(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.split('/').any(|seg| seg == ".." || seg == ".")
        && !p.chars().any(|c| c.is_control() || c == '?' || c == '#' || c == '\\')
}

/// Downloads one file to `cache_dir/<subdir>/`, refusing anything over `max_bytes`.
pub async fn download(
    api: &Api,
    media: &MediaRef,
    cache_dir: &Path,
    max_bytes: u64,
    name_hint: &str,
) -> Result<Attachment, MediaError> {
    if let Some(size) = media.file_size
        && size > max_bytes
    {
        return Err(MediaError::Skipped(format!(
            "{} of {size} bytes is over the limit of {max_bytes} bytes (gateway.max_inbound_media_bytes)",
            media.kind.as_str()
        )));
    }
    let file: File = api.call("getFile", &json!({"file_id": media.file_id}), CALL_TIMEOUT).await.map_err(classify)?;
    if let Some(size) = file.file_size
        && size > max_bytes
    {
        return Err(MediaError::Skipped(format!(
            "{} of {size} bytes is over the limit of {max_bytes} bytes (gateway.max_inbound_media_bytes)",
            media.kind.as_str()
        )));
    }
    let file_path = file.file_path.filter(|p| path_ok(p)).ok_or_else(|| {
        MediaError::Skipped("Telegram gave no usable file path (files over 20 MB cannot be downloaded by bots)".into())
    })?;

    let dir = cache_dir.join(cache_subdir(media.kind));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| MediaError::Transient(format!("cannot create the media cache {}: {e}", dir.display())))?;
    let stem = media
        .file_unique_id
        .as_deref()
        .map(safe_component)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| safe_component(name_hint));
    let ext = extension(&[Some(file_path.as_str()), media.file_name.as_deref()], media.kind);
    let final_path = dir.join(format!("tg_{stem}.{ext}"));
    let tmp_path = dir.join(format!(".tg_{stem}.{ext}.part"));

    let resp = api.download(&file_path).await.map_err(classify)?;
    let size = match stream_to(resp, &tmp_path, max_bytes).await {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp_path).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&tmp_path, &final_path)
        .await
        .map_err(|e| MediaError::Transient(format!("cannot move the download into {}: {e}", final_path.display())))?;
    Ok(Attachment {
        kind: media.kind,
        path: final_path,
        mime_type: media.mime_type.clone(),
        file_name: media.file_name.clone(),
        size,
        transcript: None,
    })
}

async fn stream_to(resp: reqwest::Response, path: &PathBuf, max_bytes: u64) -> Result<u64, MediaError> {
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| MediaError::Transient(format!("cannot write {}: {e}", path.display())))?;
    let mut stream = resp.bytes_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(ApiError::Network(e.without_url().to_string())))?;
        total += chunk.len() as u64;
        if total > max_bytes {
            return Err(MediaError::Skipped(format!(
                "the file grew past the limit of {max_bytes} bytes while downloading (gateway.max_inbound_media_bytes)"
            )));
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| MediaError::Transient(format!("cannot write {}: {e}", path.display())))?;
    }
    out.flush().await.map_err(|e| MediaError::Transient(format!("cannot write {}: {e}", path.display())))?;
    out.sync_all().await.map_err(|e| MediaError::Transient(format!("cannot write {}: {e}", path.display())))?;
    Ok(total)
}

fn classify(e: ApiError) -> MediaError {
    match &e {
        ApiError::Network(_) => MediaError::Transient(e.to_string()),
        ApiError::Api { status, .. } | ApiError::Decode { status, .. } if *status >= 500 || *status == 429 => {
            MediaError::Transient(e.to_string())
        }
        _ => MediaError::Skipped(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_from_outside_are_sanitised() {
        assert_eq!(safe_component("../../etc/passwd"), "etcpasswd");
        assert_eq!(extension(&[Some("photos/file_1.JPG")], MediaKind::Photo), "jpg");
        assert_eq!(extension(&[Some("voice/file"), Some("a.oga")], MediaKind::Voice), "oga");
        assert_eq!(extension(&[Some("x.tar.gz/../../sh")], MediaKind::Document), "bin");
        assert!(path_ok("documents/file_3.pdf"));
        assert!(!path_ok("../secret"));
        assert!(!path_ok("/abs"));
        assert!(!path_ok("a/./b"));
        assert!(!path_ok("a?b"));
        assert_eq!(cache_subdir(MediaKind::Voice), "audio");
        assert_eq!(cache_subdir(MediaKind::Document), "documents");
    }
}
