//! Saved WeChat accounts: `HERALD_HOME/accounts/weixin/<account>.json`, mode 0600,
//! holding `{token, base_url, user_id, saved_at}` as Hermes's account files do.
//!
//! The account id comes from the server (`ilink_bot_id`), so it is normalised into a
//! file name that cannot leave the directory (`b0f5860fdecb@im.bot` becomes
//! `b0f5860fdecb-im-bot`, as TW does) and kept inside the file too.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::login::Credentials;

/// Why an account could not be read or saved. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path} is not a WeChat account file: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("the account id {0:?} is not usable as a file name (letters, digits, @ . _ - only)")]
    BadId(String),
    #[error("no saved WeChat account {id:?} in {dir}; log in with `herald login weixin`")]
    Missing { id: String, dir: PathBuf },
}

/// One saved account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAccount {
    pub account_id: String,
    pub token: String,
    pub base_url: String,
    pub user_id: String,
    /// Milliseconds since the Unix epoch.
    pub saved_at: i64,
}

impl std::fmt::Debug for SavedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedAccount")
            .field("account_id", &self.account_id)
            .field("token", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .field("user_id", &self.user_id)
            .field("saved_at", &self.saved_at)
            .finish()
    }
}

/// `HERALD_HOME/accounts/weixin`.
pub fn accounts_dir(home: &Path) -> PathBuf {
    home.join("accounts").join("weixin")
}

/// The file name stem for an account id.
pub fn file_stem(account_id: &str) -> Result<String, AccountError> {
    let ok = !account_id.is_empty()
        && account_id.len() <= 128
        && account_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-'));
    if !ok || account_id.starts_with('.') {
        return Err(AccountError::BadId(account_id.to_string()));
    }
    Ok(account_id.replace(['@', '.'], "-"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Saves a confirmed login (0600, written atomically), and removes older accounts bound
/// to the same WeChat user, as TW does: one user, one bot.
pub fn save(dir: &Path, creds: &Credentials) -> Result<SavedAccount, AccountError> {
    let stem = file_stem(&creds.account_id)?;
    std::fs::create_dir_all(dir).map_err(|source| AccountError::Io { action: "create", path: dir.into(), source })?;
    let account = SavedAccount {
        account_id: creds.account_id.clone(),
        token: creds.token.clone(),
        base_url: creds.base_url.clone(),
        user_id: creds.user_id.clone(),
        saved_at: now_ms(),
    };
    let path = dir.join(format!("{stem}.json"));
    let tmp = dir.join(format!(".{stem}.json.{}.tmp", std::process::id()));
    let body = serde_json::to_vec_pretty(&account).expect("an account serialises");
    write_private(&tmp, &body).map_err(|source| AccountError::Io { action: "write", path: tmp.clone(), source })?;
    std::fs::rename(&tmp, &path).map_err(|source| AccountError::Io {
        action: "replace",
        path: path.clone(),
        source,
    })?;
    for old in list(dir)? {
        if old.user_id == account.user_id && old.account_id != account.account_id {
            let stem = file_stem(&old.account_id)?;
            let old_path = dir.join(format!("{stem}.json"));
            if let Err(error) = std::fs::remove_file(&old_path) {
                tracing::warn!(path = %old_path.display(), %error, "cannot remove a replaced WeChat account");
            }
        }
    }
    Ok(account)
}

fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(body)?;
    file.sync_all()
}

fn read(path: &Path) -> Result<SavedAccount, AccountError> {
    let body = std::fs::read(path).map_err(|source| AccountError::Io { action: "read", path: path.into(), source })?;
    let account: SavedAccount = serde_json::from_slice(&body)
        .map_err(|e| AccountError::Invalid { path: path.into(), detail: e.to_string() })?;
    if account.token.trim().is_empty() {
        return Err(AccountError::Invalid { path: path.into(), detail: "the token is empty".into() });
    }
    Ok(account)
}

/// The account saved for `account_id`.
pub fn load(dir: &Path, account_id: &str) -> Result<SavedAccount, AccountError> {
    let path = dir.join(format!("{}.json", file_stem(account_id)?));
    if !path.exists() {
        return Err(AccountError::Missing { id: account_id.to_string(), dir: dir.into() });
    }
    read(&path)
}

/// Every saved account, newest first. Files that do not parse are skipped with a
/// warning (one bad file must not hide the others).
pub fn list(dir: &Path) -> Result<Vec<SavedAccount>, AccountError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AccountError::Io { action: "list", path: dir.into(), source }),
    };
    let mut accounts = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") || name.matches('.').count() != 1 {
            continue;
        }
        match read(&path) {
            Ok(account) => accounts.push(account),
            Err(error) => tracing::warn!(%error, "skipping an unreadable WeChat account file"),
        }
    }
    accounts.sort_by(|a, b| b.saved_at.cmp(&a.saved_at).then_with(|| a.account_id.cmp(&b.account_id)));
    Ok(accounts)
}

/// The tokens to offer in `local_token_list`, newest first.
pub fn local_tokens(dir: &Path) -> Vec<String> {
    list(dir).unwrap_or_default().into_iter().take(super::login::MAX_LOCAL_TOKENS).map(|a| a.token).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(id: &str, user: &str) -> Credentials {
        Credentials {
            account_id: id.into(),
            token: format!("{id}:secret"),
            base_url: "http://127.0.0.1:1".into(),
            user_id: user.into(),
        }
    }

    #[test]
    fn ids_become_safe_file_names() {
        assert_eq!(file_stem("b0f5860fdecb@im.bot").unwrap(), "b0f5860fdecb-im-bot");
        for bad in ["", "../x", "a/b", ".hidden", "a b", "a\\b"] {
            assert!(file_stem(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn saved_accounts_are_private_and_one_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let first = save(dir.path(), &creds("a@im.bot", "u1")).unwrap();
        save(dir.path(), &creds("c@im.bot", "u2")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        save(dir.path(), &creds("b@im.bot", "u1")).unwrap();
        let all = list(dir.path()).unwrap();
        let ids: Vec<&str> = all.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(ids, ["b@im.bot", "c@im.bot"], "the older account of u1 is gone, newest first");
        assert_eq!(load(dir.path(), "c@im.bot").unwrap().user_id, "u2");
        assert!(matches!(load(dir.path(), &first.account_id), Err(AccountError::Missing { .. })));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("b-im-bot.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(local_tokens(dir.path())[0], "b@im.bot:secret");
    }

    #[test]
    fn a_broken_file_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &creds("a@im.bot", "u1")).unwrap();
        std::fs::write(dir.path().join("junk.json"), "{").unwrap();
        assert_eq!(list(dir.path()).unwrap().len(), 1);
        assert!(matches!(read(&dir.path().join("junk.json")), Err(AccountError::Invalid { .. })));
    }
}
