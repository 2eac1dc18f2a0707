//! Inbound media (weixin-ilink.md §B.9 "Download", hermes-gateway.md §12.6): fetch the
//! ciphertext from the CDN, decrypt it with the key in either encoding, and put the
//! file in the cache before the message is delivered.
//!
//! Every URL, the first and each redirect, passes [`ssrf::check_cdn_url`] against the
//! allowlist before it is fetched; redirects are followed here, by hand, because
//! reqwest's own policy would connect before herald could refuse. Sizes are capped from
//! the message's declaration and again while streaming.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use herald_core::{Attachment, MediaKind};
use tokio::io::AsyncWriteExt;

use super::crypto;
use super::parse::MediaRef;
use super::ssrf;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

pub use crate::MediaError;

/// Hermes's download timeouts: image 30 s, video 120 s, file and voice 60 s.
pub fn timeout(kind: MediaKind) -> Duration {
    match kind {
        MediaKind::Photo | MediaKind::Sticker => Duration::from_secs(30),
        MediaKind::Video => Duration::from_secs(120),
        _ => Duration::from_secs(60),
    }
}

/// The cache subdirectory, as Hermes's `cache/{images,audio,videos,documents}`.
pub fn cache_subdir(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo | MediaKind::Sticker => "images",
        MediaKind::Voice | MediaKind::Audio => "audio",
        MediaKind::Video => "videos",
        MediaKind::Document => "documents",
    }
}

/// Keeps `[A-Za-z0-9_-]`, at most 64 characters: names come from outside.
fn safe_component(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(64).collect()
}

fn extension(m: &MediaRef) -> String {
    if let Some((_, ext)) = m.file_name.as_deref().and_then(|n| n.rsplit_once('.')) {
        let ext = ext.to_ascii_lowercase();
        if (1..=8).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
            return ext;
        }
    }
    match m.kind {
        MediaKind::Photo | MediaKind::Sticker => "jpg",
        MediaKind::Voice | MediaKind::Audio => "silk",
        MediaKind::Video => "mp4",
        MediaKind::Document => "bin",
    }
    .to_string()
}

/// Downloads files for one account.
#[derive(Debug, Clone)]
pub struct Downloader {
    pub http: reqwest::Client,
    pub cdn_base_url: String,
    /// The SSRF allowlist: the configured hosts (or Hermes's) plus the CDN base's host.
    pub allowed_hosts: Vec<String>,
    pub cache_dir: PathBuf,
    pub max_bytes: u64,
}

/// The allowlist for a configuration: `configured`, or Hermes's list when empty, plus
/// the `host:port` of the CDN base (which the operator chose, so it is trusted).
pub fn allowlist(configured: &[String], cdn_base_url: &str) -> Vec<String> {
    let mut hosts: Vec<String> = if configured.is_empty() {
        ssrf::DEFAULT_CDN_HOSTS.iter().map(|h| h.to_string()).collect()
    } else {
        configured.to_vec()
    };
    if let Ok(u) = reqwest::Url::parse(cdn_base_url)
        && let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default())
    {
        hosts.push(format!("{host}:{port}"));
    }
    hosts
}

impl Downloader {
    /// The URL of a file: `{cdn}/download?encrypted_query_param=…` when the message has
    /// the parameter, else its `full_url` (Hermes's order).
    pub fn url_of(&self, m: &MediaRef) -> Result<String, MediaError> {
        if let Some(p) = m.media.encrypt_query_param.as_deref().filter(|p| !p.is_empty()) {
            let mut u = reqwest::Url::parse(&format!("{}/download", self.cdn_base_url))
                .map_err(|_| MediaError::Skipped("WEIXIN_CDN_BASE_URL is not a usable URL".into()))?;
            u.query_pairs_mut().append_pair("encrypted_query_param", p);
            return Ok(u.to_string());
        }
        m.media
            .full_url
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| MediaError::Skipped("the message names no CDN location".into()))
    }

    /// Downloads, decrypts and caches one file.
    pub async fn download(&self, m: &MediaRef, name_hint: &str) -> Result<Attachment, MediaError> {
        let limit = self.max_bytes;
        if let Some(size) = m.declared_size
            && size > limit.saturating_add(16)
        {
            return Err(MediaError::Skipped(format!(
                "{} of {size} bytes is over the limit of {limit} bytes (gateway.max_inbound_media_bytes)",
                m.kind.as_str()
            )));
        }
        let key = crypto::parse_media_key(m.image_aeskey.as_deref(), m.media.aes_key.as_deref())
            .map_err(|e| MediaError::Skipped(format!("the media key cannot be read: {e}")))?;
        let url = self.url_of(m)?;
        // Ciphertext is at most 16 bytes longer than the plaintext.
        let cipher = self.fetch(&url, timeout(m.kind), limit.saturating_add(16)).await?;
        let plain = match key {
            Some(k) => crypto::decrypt(&k, &cipher).map_err(|e| MediaError::Skipped(format!("cannot decrypt: {e}")))?,
            // Images without a key are served in the clear (§B.9).
            None => cipher,
        };
        if plain.len() as u64 > limit {
            return Err(MediaError::Skipped(format!(
                "the file is over the limit of {limit} bytes (gateway.max_inbound_media_bytes)"
            )));
        }
        let path = self.store(m, name_hint, &plain).await?;
        Ok(Attachment {
            kind: m.kind,
            path,
            mime_type: m.mime_type.clone(),
            file_name: m.file_name.clone(),
            size: plain.len() as u64,
            transcript: m.transcript.clone(),
        })
    }

    /// GETs `url`, following redirects only to allowed hosts, at most `max` bytes.
    pub async fn fetch(&self, url: &str, timeout: Duration, max: u64) -> Result<Vec<u8>, MediaError> {
        let mut current = ssrf::check_cdn_url(url, &self.allowed_hosts)
            .map_err(|e| MediaError::Skipped(format!("media download refused: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.http.get(current.clone()).timeout(timeout).send().await.map_err(|e| {
                // The URL holds the encrypted parameter: never into a message.
                MediaError::Transient(format!("the CDN download failed: {}", e.without_url()))
            })?;
            let status = resp.status();
            if status.is_redirection() {
                let location =
                    resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(|| {
                        MediaError::Skipped(format!("the CDN redirected ({status}) without a location"))
                    })?;
                let next = current
                    .join(location)
                    .map_err(|_| MediaError::Skipped("the CDN redirected to an unusable location".into()))?;
                current = ssrf::check_cdn_url(next.as_str(), &self.allowed_hosts)
                    .map_err(|e| MediaError::Skipped(format!("media redirect refused: {e}")))?;
                continue;
            }
            if status.is_server_error() || status.as_u16() == 429 {
                return Err(MediaError::Transient(format!("the CDN answered HTTP {status}")));
            }
            if !status.is_success() {
                return Err(MediaError::Skipped(format!("the CDN answered HTTP {status}")));
            }
            if let Some(len) = resp.content_length()
                && len > max
            {
                return Err(MediaError::Skipped(format!("the file of {len} bytes is over the limit")));
            }
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| MediaError::Transient(format!("the CDN download broke off: {}", e.without_url())))?;
                if (body.len() + chunk.len()) as u64 > max {
                    return Err(MediaError::Skipped(
                        "the file grew past the limit while downloading (gateway.max_inbound_media_bytes)".into(),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
        Err(MediaError::Skipped(format!("more than {MAX_REDIRECTS} redirects")))
    }

    async fn store(&self, m: &MediaRef, name_hint: &str, bytes: &[u8]) -> Result<PathBuf, MediaError> {
        let dir = self.cache_dir.join(cache_subdir(m.kind));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| MediaError::Transient(format!("cannot create the media cache {}: {e}", dir.display())))?;
        let stem = safe_component(name_hint);
        let stem = if stem.is_empty() { hex::encode(rand::random::<[u8; 8]>()) } else { stem };
        let ext = extension(m);
        let final_path = dir.join(format!("wx_{stem}.{ext}"));
        let tmp = dir.join(format!(".wx_{stem}.{ext}.part"));
        write(&tmp, bytes).await.inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        tokio::fs::rename(&tmp, &final_path).await.map_err(|e| {
            MediaError::Transient(format!("cannot move the download into {}: {e}", final_path.display()))
        })?;
        Ok(final_path)
    }
}

async fn write(path: &Path, bytes: &[u8]) -> Result<(), MediaError> {
    let err = |e: std::io::Error| MediaError::Transient(format!("cannot write {}: {e}", path.display()));
    let mut f = tokio::fs::File::create(path).await.map_err(err)?;
    f.write_all(bytes).await.map_err(err)?;
    f.flush().await.map_err(err)?;
    f.sync_all().await.map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weixin::types::CdnMedia;

    fn media(kind: MediaKind, file_name: Option<&str>) -> MediaRef {
        MediaRef {
            kind,
            media: CdnMedia::default(),
            image_aeskey: None,
            file_name: file_name.map(str::to_string),
            mime_type: None,
            declared_size: None,
            transcript: None,
            quoted: false,
        }
    }

    #[test]
    fn names_from_outside_are_sanitised() {
        assert_eq!(safe_component("../../etc/passwd"), "etcpasswd");
        assert_eq!(extension(&media(MediaKind::Document, Some("Report.PDF"))), "pdf");
        assert_eq!(extension(&media(MediaKind::Document, Some("x.tar.gz/../../sh"))), "bin");
        assert_eq!(extension(&media(MediaKind::Voice, None)), "silk");
        assert_eq!(extension(&media(MediaKind::Photo, None)), "jpg");
        assert_eq!(cache_subdir(MediaKind::Video), "videos");
    }

    #[test]
    fn the_allowlist_adds_the_cdn_base() {
        let a = allowlist(&[], "http://127.0.0.1:9000/c2c");
        assert!(a.contains(&"novac2c.cdn.weixin.qq.com".to_string()));
        assert!(a.contains(&"127.0.0.1:9000".to_string()));
        let b = allowlist(&["cdn.example".into()], "https://novac2c.cdn.weixin.qq.com/c2c");
        assert_eq!(b, vec!["cdn.example".to_string(), "novac2c.cdn.weixin.qq.com:443".to_string()]);
    }

    #[test]
    fn urls_prefer_the_parameter() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let d = Downloader {
            http: reqwest::Client::new(),
            cdn_base_url: "https://novac2c.cdn.weixin.qq.com/c2c".into(),
            allowed_hosts: vec![],
            cache_dir: PathBuf::from("/nonexistent"),
            max_bytes: 10,
        };
        let mut m = media(MediaKind::Photo, None);
        m.media.encrypt_query_param = Some("a+b/c=".into());
        m.media.full_url = Some("https://evil.example/x".into());
        assert_eq!(
            d.url_of(&m).unwrap(),
            "https://novac2c.cdn.weixin.qq.com/c2c/download?encrypted_query_param=a%2Bb%2Fc%3D"
        );
        m.media.encrypt_query_param = None;
        assert_eq!(d.url_of(&m).unwrap(), "https://evil.example/x");
        m.media.full_url = None;
        assert!(matches!(d.url_of(&m), Err(MediaError::Skipped(_))));
    }
}
