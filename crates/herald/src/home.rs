//! The home directory: where configuration, the database and memory files live.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The resolved home directory.
#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    /// `--home`, else `$HERALD_HOME`, else `~/.herald`.
    pub fn resolve(flag: Option<&Path>) -> anyhow::Result<Home> {
        let dir = match (flag, std::env::var_os("HERALD_HOME").filter(|v| !v.is_empty())) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(env)) => PathBuf::from(env),
            (None, None) => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(h) => PathBuf::from(h).join(".herald"),
                None => bail!("cannot find the home directory: set HERALD_HOME to a directory herald may use"),
            },
        };
        Ok(Home { dir })
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.join(".env")
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join("herald.db")
    }

    /// Fails when the home path exists but is not a directory.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.dir.exists() && !self.dir.is_dir() {
            bail!("HERALD_HOME {} is not a directory; point HERALD_HOME at a directory", self.dir.display());
        }
        Ok(())
    }

    /// Creates the directory (mode 0700) if needed and checks herald can write in it.
    pub fn ensure(&self) -> anyhow::Result<()> {
        self.check()?;
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir).with_context(|| {
                format!(
                    "cannot create the home directory {}; set HERALD_HOME to a writable directory",
                    self.dir.display()
                )
            })?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot restrict permissions of {}", self.dir.display()))?;
            }
        }
        let probe = self.dir.join(".write-test");
        std::fs::write(&probe, b"").with_context(|| {
            format!("the home directory {} is not writable; fix its permissions or set HERALD_HOME", self.dir.display())
        })?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }

    /// Reads an optional file; missing is `None`, any other failure is an error naming it.
    pub fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
        match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .with_context(|| format!("{} is not UTF-8 text; fix or remove it", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read {}; fix its permissions or remove it", path.display()))
            }
        }
    }
}
