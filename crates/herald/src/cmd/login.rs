//! `herald login weixin`: the QR login in a terminal.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use herald_core::config::Config;
use herald_platforms::weixin::account;
use herald_platforms::weixin::login::{LOGIN_DEADLINE, LoginEvent, LoginFlow, QrCode, QrLoginClient};

use crate::cli::{LoginCommand, WeixinLoginArgs};
use crate::home::Home;
use crate::weixin::{POLL_GAP, qr};

pub async fn run(home: &Home, config: &Config, cmd: LoginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LoginCommand::Weixin(args) => weixin(home, config, args).await,
    }
}

fn show(qr_code: &QrCode, png_path: &std::path::Path) -> anyhow::Result<()> {
    let art = qr::terminal(&qr_code.url)?;
    let png = qr::png(&qr_code.url)?;
    std::fs::write(png_path, png).with_context(|| format!("cannot write {}", png_path.display()))?;
    println!("{art}");
    println!("Scan this QR code with WeChat (Me > Settings > Plugins must list ClawBot).");
    println!("The same code is in {} and encodes {}", png_path.display(), qr_code.url);
    Ok(())
}

/// Reads the digits WeChat shows; `None` when there is no one to ask.
fn ask_code(wrong: bool) -> anyhow::Result<Option<String>> {
    if wrong {
        println!("That code was not accepted.");
    }
    print!("WeChat shows a verification code; type it here: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    Ok((read > 0).then(|| line.trim().to_string()))
}

async fn weixin(home: &Home, config: &Config, args: WeixinLoginArgs) -> anyhow::Result<ExitCode> {
    home.ensure()?;
    let dir = account::accounts_dir(&home.dir);
    let png_path = args.png.unwrap_or_else(|| home.dir.join("weixin-login-qr.png"));
    let http = reqwest::Client::builder().build().context("cannot build an HTTP client")?;
    let client = QrLoginClient::new(http, &config.weixin.base_url, config.weixin.route_tag.clone());
    let mut flow = LoginFlow::start(client, account::local_tokens(&dir)).await?;
    show(flow.qr(), &png_path)?;
    let deadline = tokio::time::Instant::now() + LOGIN_DEADLINE;
    let mut scanned = false;
    loop {
        let step = tokio::time::timeout_at(deadline, flow.step()).await.map_err(|_| {
            anyhow::anyhow!("the login took longer than {LOGIN_DEADLINE:?}; run `herald login weixin` again")
        })?;
        match step? {
            LoginEvent::Waiting => {}
            LoginEvent::Scanned => {
                if !scanned {
                    println!("Scanned. Confirm the login in WeChat.");
                    scanned = true;
                }
            }
            LoginEvent::NewQr(qr_code) => {
                println!("The QR code expired; here is a new one ({} of 3).", flow.refreshes());
                scanned = false;
                show(&qr_code, &png_path)?;
            }
            LoginEvent::NeedVerifyCode { wrong } => {
                let code = tokio::task::spawn_blocking(move || ask_code(wrong)).await??;
                match code {
                    Some(code) => {
                        if let Err(e) = flow.submit_code(&code) {
                            println!("{e}");
                        }
                    }
                    None => anyhow::bail!(
                        "WeChat asks for a verification code but there is no terminal to type it in; run \
                         `herald login weixin` interactively, or log in through the API \
                         (POST /api/platforms/weixin/login, see docs/api.md)"
                    ),
                }
            }
            LoginEvent::AlreadyBound { account_id } => {
                let which = account_id.map(|a| format!(" ({a})")).unwrap_or_default();
                println!("This WeChat bot{which} is already bound to this machine; the saved account stays in use.");
                return Ok(ExitCode::SUCCESS);
            }
            LoginEvent::Confirmed(creds) => {
                let saved = account::save(&dir, &creds)?;
                let _ = std::fs::remove_file(&png_path);
                println!(
                    "Logged in: bot {} for WeChat user {}. Saved in {}.",
                    saved.account_id,
                    saved.user_id,
                    dir.display()
                );
                println!(
                    "Start the gateway with `herald gateway run` (a running gateway picks the account up at its next start)."
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
        tokio::time::sleep(POLL_GAP.min(Duration::from_secs(1))).await;
    }
}
