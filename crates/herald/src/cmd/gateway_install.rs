//! `herald gateway install`: a systemd user unit that runs this binary on this home.
//!
//! `Restart=on-failure` restarts the gateway after exit code 75 (a stop nobody planned)
//! and leaves it stopped after 0 (a planned stop). `ExecStop` goes through
//! `herald gateway stop`, so `systemctl --user stop` is a planned stop that drains.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use herald_core::config::Effective;

use crate::cli::GatewayInstallArgs;
use crate::cmd::gateway_control::{UNIT_NAME, stop_wait};
use crate::home::Home;

pub fn run(home: &Home, effective: &Effective, args: &GatewayInstallArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the herald binary")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let home_dir = std::path::absolute(&home.dir).context("cannot make the home path absolute")?;
    let path_env = std::env::var("PATH").ok().filter(|p| !p.is_empty());
    let stop_timeout = stop_wait(&effective.config).as_secs() + 15;
    let text = unit(&exe, &home_dir, path_env.as_deref(), stop_timeout);
    if args.print {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = unit_path()?;
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing != text
        && !args.force
    {
        bail!("{} exists and differs; rerun with --force to replace it, or --print to compare", path.display());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("start it now and at every login with:");
    println!("  systemctl --user daemon-reload && systemctl --user enable --now herald-gateway");
    println!("(to keep it running while you are logged out: loginctl enable-linger $USER)");
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_CONFIG_HOME/systemd/user/herald-gateway.service`, else under `~/.config`.
fn unit_path() -> anyhow::Result<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config")))
        .context("cannot find the configuration directory: set HOME or XDG_CONFIG_HOME")?;
    Ok(config.join("systemd/user").join(UNIT_NAME))
}

/// The unit's text.
pub fn unit(exe: &Path, home: &Path, path_env: Option<&str>, stop_timeout_secs: u64) -> String {
    let exe = quote(&exe.display().to_string());
    let home_q = quote(&home.display().to_string());
    let mut env = vec![quote(&format!("HERALD_HOME={}", home.display()))];
    if let Some(path) = path_env {
        // The agent's tools run programs; the user manager's PATH is minimal.
        env.push(quote(&format!("PATH={path}")));
    }
    let env: String = env.iter().map(|e| format!("Environment={e}\n")).collect();
    format!(
        "# Written by `herald gateway install`.\n\
         [Unit]\n\
         Description=herald gateway ({home})\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exe} --home {home_q} gateway run\n\
         ExecStop={exe} --home {home_q} gateway stop\n\
         {env}\
         Restart=on-failure\n\
         RestartSec=5\n\
         # Empty on purpose: exit code 75 (a stop nobody planned) restarts.\n\
         RestartPreventExitStatus=\n\
         TimeoutStopSec={stop_timeout_secs}\n\
         KillMode=mixed\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        home = escape(&home.display().to_string()),
    )
}

/// A double-quoted word for `ExecStart=` / `Environment=`.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text).replace('\\', "\\\\").replace('"', "\\\""))
}

/// `%` starts a specifier in unit files.
fn escape(text: &str) -> String {
    text.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_on_this_home_and_restarts_on_75() {
        let text = unit(Path::new("/opt/herald/bin/herald"), Path::new("/srv/bot home"), Some("/usr/bin:/bin"), 60);
        assert!(text.contains("ExecStart=\"/opt/herald/bin/herald\" --home \"/srv/bot home\" gateway run\n"), "{text}");
        assert!(text.contains("ExecStop=\"/opt/herald/bin/herald\" --home \"/srv/bot home\" gateway stop\n"), "{text}");
        assert!(text.contains("Environment=\"HERALD_HOME=/srv/bot home\"\n"), "{text}");
        assert!(text.contains("Environment=\"PATH=/usr/bin:/bin\"\n"), "{text}");
        assert!(text.contains("Restart=on-failure\n") && text.contains("RestartPreventExitStatus=\n"), "{text}");
        assert!(text.contains("TimeoutStopSec=60\n") && text.contains("WantedBy=default.target\n"), "{text}");
    }

    #[test]
    fn percent_quotes_and_backslashes_are_escaped() {
        assert_eq!(quote("a%b\"c\\d"), "\"a%%b\\\"c\\\\d\"");
    }
}
