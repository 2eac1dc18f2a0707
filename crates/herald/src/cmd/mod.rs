//! One module per command.

mod chat;
mod config;
mod doctor;
mod gateway;
mod gateway_control;
mod gateway_install;
mod gateway_platforms;
mod login;
mod pairing;
mod sessions;

use std::process::ExitCode;

use herald_core::config::{Effective, Origin};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, GatewayCommand};
use crate::home::Home;
use crate::settings::{self, FlagSetting};

/// Terminal commands log warnings only, unless the user asked for more, so that logs
/// never mix with the answer on the terminal.
fn init_logging(effective: &Effective) {
    let level = match effective.origin("logging.level") {
        Some(Origin::Default) | None => "warn".to_string(),
        Some(_) => effective.config.log_level.clone(),
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(cli.home.as_deref())?;
    let mut flags = settings::parse_set_flags(&cli.set)?;
    if let Command::Chat(args) = &cli.command {
        if let Some(m) = &args.model {
            flags.push(FlagSetting { flag: "--model".into(), key: "model.default".into(), value: m.clone() });
        }
        if let Some(p) = &args.provider {
            flags.push(FlagSetting { flag: "--provider".into(), key: "model.provider".into(), value: p.clone() });
        }
    }
    let prepare = || -> anyhow::Result<Effective> {
        let effective = settings::load(&home, &flags)?;
        init_logging(&effective);
        Ok(effective)
    };
    match cli.command {
        // The doctor reports a broken configuration instead of stopping at it.
        Command::Doctor => doctor::run(&home, &flags).await,
        // The daemon sets up its own logging: info level, human or JSON.
        Command::Gateway(GatewayCommand::Run(args)) => gateway::run(&home, &flags, args).await,
        Command::Gateway(GatewayCommand::Status) => gateway_control::status(&home),
        Command::Gateway(GatewayCommand::Stop(args)) => gateway_control::stop(&home, &prepare()?, &args),
        Command::Gateway(GatewayCommand::Restart(args)) => {
            gateway_control::restart(&home, &prepare()?, &cli.set, &args).await
        }
        Command::Gateway(GatewayCommand::Install(args)) => gateway_install::run(&home, &prepare()?, &args),
        Command::Chat(args) => chat::run(&home, &prepare()?.config, args).await,
        Command::Sessions(cmd) => {
            prepare()?;
            sessions::run(&home, cmd).await
        }
        Command::Config(cmd) => config::run(&home, &prepare()?, cmd),
        Command::Login(cmd) => login::run(&home, &prepare()?.config, cmd).await,
        Command::Pairing(cmd) => {
            prepare()?;
            pairing::run(&home, cmd).await
        }
    }
}
