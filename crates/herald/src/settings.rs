//! Loads the configuration layers in order: defaults, config.yaml, .env, environment, flags.

use anyhow::Context;
use herald_core::config::{ConfigLoader, Effective};

use crate::home::Home;

/// A setting given on the command line, with the flag that gave it.
pub struct FlagSetting {
    pub flag: String,
    pub key: String,
    pub value: String,
}

/// Parses `--set KEY=VALUE` arguments.
pub fn parse_set_flags(sets: &[String]) -> anyhow::Result<Vec<FlagSetting>> {
    sets.iter()
        .map(|s| {
            let (key, value) = s
                .split_once('=')
                .with_context(|| format!("--set {s}: expected KEY=VALUE, for example --set agent.max_turns=20"))?;
            Ok(FlagSetting { flag: format!("--set {key}"), key: key.trim().to_string(), value: value.to_string() })
        })
        .collect()
}

/// Loads the effective configuration for `home`.
pub fn load(home: &Home, flags: &[FlagSetting]) -> anyhow::Result<Effective> {
    home.check()?;
    let mut loader = ConfigLoader::new();
    let config_path = home.config_file();
    if let Some(text) = Home::read_optional(&config_path)? {
        loader.yaml(&config_path.display().to_string(), &text)?;
    }
    let env_path = home.env_file();
    if let Some(text) = Home::read_optional(&env_path)? {
        loader.dotenv(&env_path.display().to_string(), &text)?;
    }
    loader.env(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))));
    for f in flags {
        loader.flag(&f.flag, &f.key, &f.value)?;
    }
    let effective = loader.build()?;
    for w in &effective.warnings {
        tracing::debug!("{w}");
    }
    Ok(effective)
}
