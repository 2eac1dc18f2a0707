//! `herald pairing`: the operator's side of DM pairing (Hermes's `hermes pairing`).
//!
//! The gateway hands an unknown user a code; the operator approves it here. Every
//! operation is one write in the store, so this can run while the gateway does.
//! Input is checked before the store is touched: a mistyped code that cannot be a
//! code is refused without counting towards the lockout.

use std::process::ExitCode;

use anyhow::bail;
use herald_core::Platform;
use herald_store::{PAIRING_ALPHABET, PAIRING_CODE_LENGTH, PAIRING_LOCKOUT_SECONDS, Store};

use crate::cli::PairingCommand;
use crate::home::Home;
use crate::wiring;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn local_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => "?".into(),
    }
}

fn platform(raw: &str) -> anyhow::Result<Platform> {
    match Platform::parse(raw) {
        Ok(p) => Ok(p),
        Err(_) => {
            bail!("`{raw}` is not a platform name; use the name the pairing message shows, for example `telegram`")
        }
    }
}

/// The code as the store compares it (trimmed, upper case), or why it cannot be one.
fn code(raw: &str) -> anyhow::Result<String> {
    let code = raw.trim().to_ascii_uppercase();
    let well_formed = code.chars().count() == PAIRING_CODE_LENGTH && code.chars().all(|c| PAIRING_ALPHABET.contains(c));
    if !well_formed {
        bail!(
            "`{raw}` is not a pairing code: codes are {PAIRING_CODE_LENGTH} characters of A-Z and 2-9 \
             (never 0, O, 1 or I); copy it from the user's pairing message"
        );
    }
    Ok(code)
}

fn user_id(raw: &str) -> anyhow::Result<&str> {
    let id = raw.trim();
    if id.is_empty() || id.chars().any(char::is_control) {
        bail!("`{raw}` is not a user id; `herald pairing list` shows the approved users and their ids");
    }
    Ok(id)
}

async fn list(store: &dyn Store) -> anyhow::Result<ExitCode> {
    let now = now_ms();
    let all = store.pairing_list(now).await?;
    if all.pending.is_empty() {
        println!("No pending pairing codes.");
    } else {
        println!("Pending codes ({}):", all.pending.len());
        println!("  {:<12} {:<20} {:<20} {:<10} {:>5}", "PLATFORM", "USER ID", "NAME", "CODE HASH", "AGE");
        for p in &all.pending {
            let minutes = (now - p.created_at).max(0) / 60_000;
            println!(
                "  {:<12} {:<20} {:<20} {:<10} {:>4}m",
                p.platform,
                p.user_id,
                p.user_name.as_deref().unwrap_or("-"),
                p.hash_prefix,
                minutes
            );
        }
    }
    println!();
    if all.approved.is_empty() {
        println!("No approved users.");
    } else {
        println!("Approved users ({}):", all.approved.len());
        println!("  {:<12} {:<20} {:<20} APPROVED", "PLATFORM", "USER ID", "NAME");
        for a in &all.approved {
            println!(
                "  {:<12} {:<20} {:<20} {}",
                a.platform,
                a.user_id,
                a.user_name.as_deref().unwrap_or("-"),
                local_time(a.approved_at)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(home: &Home, cmd: PairingCommand) -> anyhow::Result<ExitCode> {
    // Validate before opening anything, so bad input changes nothing.
    match &cmd {
        PairingCommand::Approve { platform: p, code: c } => {
            platform(p)?;
            code(c)?;
        }
        PairingCommand::Revoke { platform: p, user_id: u } => {
            platform(p)?;
            user_id(u)?;
        }
        PairingCommand::List | PairingCommand::ClearPending => {}
    }
    let store = wiring::open_store(home).await?;
    match cmd {
        PairingCommand::List => list(store.as_ref()).await,
        PairingCommand::Approve { platform: p, code: c } => {
            let p = platform(&p)?;
            let c = code(&c)?;
            let now = now_ms();
            match store.pairing_approve(p.as_str(), &c, now).await? {
                Some(user) => {
                    let name = user.user_name.map(|n| format!(" ({n})")).unwrap_or_default();
                    println!("Approved {} user {}{name}. They can talk to the bot now.", user.platform, user.user_id);
                    Ok(ExitCode::SUCCESS)
                }
                None if store.pairing_is_locked_out(p.as_str(), now).await? => bail!(
                    "pairing on {p} is locked for up to {} minutes after 5 wrong codes; \
                     wait, then approve the code again (ask the user for a new one if it expired)",
                    PAIRING_LOCKOUT_SECONDS / 60
                ),
                None => bail!(
                    "no pending code {c} on {p}: it was mistyped, already used, or older than an hour; \
                     `herald pairing list` shows the live codes, and the user gets a new one by messaging the bot again"
                ),
            }
        }
        PairingCommand::Revoke { platform: p, user_id: u } => {
            let p = platform(&p)?;
            let u = user_id(&u)?;
            if store.pairing_revoke(p.as_str(), u).await? {
                println!("Revoked {p} user {u}: their messages are no longer admitted by pairing.");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("{p} user {u} is not approved; `herald pairing list` shows the approved users")
            }
        }
        PairingCommand::ClearPending => {
            let n = store.pairing_clear_pending().await?;
            println!("Removed {n} pending pairing code{}.", if n == 1 { "" } else { "s" });
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_and_checked() {
        assert_eq!(code(" abcd2345 ").unwrap(), "ABCD2345");
        for bad in ["ABCD", "ABCD23450", "ABCD1234", "ABCDO234", "ABCD 234", ""] {
            let e = code(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("pairing message"), "{e}");
        }
    }

    #[test]
    fn platforms_and_users_are_checked() {
        assert_eq!(platform(" Telegram ").unwrap(), Platform::Telegram);
        assert!(platform("tele gram").unwrap_err().to_string().contains("`tele gram`"));
        assert_eq!(user_id(" 42 ").unwrap(), "42");
        assert!(user_id("  ").is_err());
    }
}
