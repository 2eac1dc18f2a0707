//! Configuration: layers of built-in defaults, `config.yaml`, `.env`, the process
//! environment and command-line flags, later layers winning.
//!
//! The caller reads the files; this module only parses text, so it does no I/O and the
//! fuzz target can drive it directly. Every value remembers where it came from, which
//! is what `herald config show` prints and what every error names.

pub mod access;
pub mod dotenv;
mod model;
pub mod registry;
mod routes;
pub mod sessions;
mod setting;
pub mod telegram;
mod value;
pub mod weixin;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;

pub use access::{AccessConfig, AdapterPolicy, PlatformAccess, SlashAccessConfig, UnauthorizedDmBehavior};
pub use model::{ModelConfig, ProviderKind, ResolvedModel, missing_provider_help};
pub use registry::{Kind, SETTINGS, Setting};
pub use routes::ModelRoute;
pub use sessions::{
    BusyInputMode, ResetMode, ResetOverride, ResetPolicy, SessionResetConfig, SessionsConfig, StreamingConfig,
};
pub use telegram::{AllowBots, ReplyToMode, TelegramConfig};
pub use weixin::WeixinConfig;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: String, line: usize },
    DotEnv { path: String, line: usize, var: String },
    Env { var: String },
    Flag { flag: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::DotEnv { path, line, var } => write!(f, "{path}:{line} ({var})"),
            Origin::Env { var } => write!(f, "environment {var}"),
            Origin::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// One setting whose value is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub origin: Origin,
    pub found: String,
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found =
            if self.found.is_empty() { "a nested list or mapping".to_string() } else { format!("`{}`", self.found) };
        match &self.origin {
            Origin::File { path, line } => {
                write!(f, "{path}:{line}: `{}` expects {}, found {found}", self.key, self.expected)
            }
            Origin::DotEnv { path, line, var } => {
                write!(f, "{path}:{line}: {var} (setting `{}`) expects {}, found {found}", self.key, self.expected)
            }
            Origin::Env { var } => write!(
                f,
                "environment variable {var} (setting `{}`) expects {}, found {found}",
                self.key, self.expected
            ),
            Origin::Flag { flag } => {
                write!(f, "{flag} (setting `{}`) expects {}, found {found}", self.key, self.expected)
            }
            Origin::Default => write!(f, "built-in default of `{}` expects {}, found {found}", self.key, self.expected),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}:{column}: not valid YAML: {message}. Fix the file or move it aside to use the defaults.")]
    Yaml { path: String, line: usize, column: usize, message: String },
    #[error("{path}:{line}: {message}. Each line of .env must be NAME=value.")]
    DotEnv { path: String, line: usize, message: String },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
    #[error("unknown setting `{key}` in {flag}; `herald config show` lists every setting")]
    UnknownSetting { flag: String, key: String },
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: Origin,
}

/// Collects the layers. Call the methods in precedence order: later calls win.
#[derive(Debug, Default)]
pub struct ConfigLoader {
    values: BTreeMap<&'static str, Entry>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    routes: routes::RouteCollector,
}

impl ConfigLoader {
    /// Starts from the built-in defaults.
    pub fn new() -> Self {
        let mut loader = ConfigLoader::default();
        for s in SETTINGS {
            if let Some(d) = s.default {
                loader.values.insert(s.key, Entry { value: d.to_string(), origin: Origin::Default });
            }
        }
        loader
    }

    fn set(&mut self, setting: &'static Setting, raw: String, origin: Origin) {
        if value::check(setting.kind, &raw).is_err() {
            self.problems.push(Problem {
                key: setting.key.to_string(),
                origin,
                found: if setting.secret { "(hidden)".to_string() } else { raw },
                expected: setting.kind.expected(),
            });
            return;
        }
        self.values.insert(setting.key, Entry { value: raw.trim().to_string(), origin });
    }

    /// Applies `config.yaml`. `path` is only used in messages.
    pub fn yaml(&mut self, path: &str, text: &str) -> Result<&mut Self, ConfigError> {
        let entries = yaml::flatten(text).map_err(|e| ConfigError::Yaml {
            path: path.to_string(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        for entry in entries {
            let Some(setting) = registry::find(&entry.key) else {
                let origin = Origin::File { path: path.to_string(), line: entry.line };
                if let yaml::YamlValue::Scalar(v) = &entry.value
                    && self.routes.offer(&entry.key, v.clone(), origin)
                {
                    continue;
                }
                self.warnings.push(format!("{path}:{}: `{}` is not a herald setting; ignored", entry.line, entry.key));
                continue;
            };
            let origin = Origin::File { path: path.to_string(), line: entry.line };
            match entry.value {
                yaml::YamlValue::Scalar(v) => self.set(setting, v, origin),
                yaml::YamlValue::List(items) => self.set(setting, items.join(","), origin),
                yaml::YamlValue::Complex => self.problems.push(Problem {
                    key: setting.key.to_string(),
                    origin,
                    found: String::new(),
                    expected: setting.kind.expected(),
                }),
            }
        }
        Ok(self)
    }

    fn env_layer(&mut self, lookup: &dyn Fn(&str) -> Option<(String, Origin)>) {
        for setting in SETTINGS {
            // The first variable listed is the strongest, so it is the one that counts.
            if let Some((value, origin)) = setting.env.iter().find_map(|var| lookup(var)) {
                self.set(setting, value, origin);
            }
        }
    }

    /// Applies a `.env` file. Variables herald does not know are left for other tools.
    pub fn dotenv(&mut self, path: &str, text: &str) -> Result<&mut Self, ConfigError> {
        let entries = dotenv::parse(text).map_err(|e| ConfigError::DotEnv {
            path: path.to_string(),
            line: e.line,
            message: e.message,
        })?;
        let lookup = |var: &str| {
            // Later lines win, as in a shell.
            entries.iter().rev().find(|e| e.name == var && !e.value.is_empty()).map(|e| {
                (e.value.clone(), Origin::DotEnv { path: path.to_string(), line: e.line, var: var.to_string() })
            })
        };
        self.env_layer(&lookup);
        Ok(self)
    }

    /// Applies process environment variables. Empty values count as unset.
    pub fn env<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: BTreeMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| !v.is_empty()).collect();
        let lookup = |var: &str| vars.get(var).map(|v| (v.clone(), Origin::Env { var: var.to_string() }));
        self.env_layer(&lookup);
        self
    }

    /// Applies a command-line flag that sets `key`.
    pub fn flag(&mut self, flag: &str, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let setting = registry::find(key)
            .ok_or_else(|| ConfigError::UnknownSetting { flag: flag.to_string(), key: key.to_string() })?;
        self.set(setting, value.to_string(), Origin::Flag { flag: flag.to_string() });
        Ok(self)
    }

    /// Validates every layer and produces the effective configuration.
    pub fn build(mut self) -> Result<Effective, ConfigError> {
        let routes = std::mem::take(&mut self.routes).finish(&mut self.problems);
        if !self.problems.is_empty() {
            return Err(ConfigError::Invalid { problems: self.problems });
        }
        let mut config = Config::from_values(&|key| self.values.get(key).map(|e| e.value.as_str()));
        config.api_server.model_routes = routes;
        Ok(Effective { config, values: self.values, warnings: self.warnings })
    }
}

/// Typed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub model: ModelConfig,
    pub agent: AgentConfig,
    pub memory: MemoryConfig,
    pub timezone: Option<String>,
    pub log_level: String,
    pub api_server: ApiServerConfig,
    pub gateway: GatewayConfig,
    pub telegram: TelegramConfig,
    pub weixin: WeixinConfig,
    pub sessions: SessionsConfig,
    /// Who may talk to the agent and run which command.
    pub access: AccessConfig,
}

/// The OpenAI-compatible API server.
#[derive(Clone)]
pub struct ApiServerConfig {
    pub enabled: bool,
    /// `None` until the gateway generates one on first start.
    pub key: Option<String>,
    pub host: String,
    pub port: u16,
    /// Allowed browser origins; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    pub model_name: String,
    /// 0 means no cap.
    pub max_concurrent_runs: u32,
    pub model_routes: Vec<ModelRoute>,
}

impl std::fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("enabled", &self.enabled)
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("cors_origins", &self.cors_origins)
            .field("model_name", &self.model_name)
            .field("max_concurrent_runs", &self.max_concurrent_runs)
            .field("model_routes", &self.model_routes)
            .finish()
    }
}

/// The gateway daemon.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How long running turns may finish after SIGTERM/SIGINT.
    pub drain_timeout: std::time::Duration,
    /// Largest inbound media file an adapter downloads (`gateway.max_inbound_media_bytes`).
    pub max_inbound_media_bytes: u64,
    /// Where the credential locks live (`gateway.lock_dir`); `None` is the default
    /// directory (`herald_gateway::lifecycle::credential_lock_dir`).
    pub lock_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub max_turns: u32,
}

#[derive(Debug, Clone)]
pub struct MemoryConfig {
    pub memory_enabled: bool,
    pub user_profile_enabled: bool,
    pub memory_char_limit: usize,
    pub user_char_limit: usize,
}

/// Reads validated values; the registry guarantees every default parses, and `set`
/// rejected anything that does not, so the fallbacks below never apply in practice.
pub(crate) struct Values<'a>(&'a dyn Fn(&str) -> Option<&'a str>);

impl Values<'_> {
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        (self.0)(key).map(str::to_string)
    }
    pub(crate) fn bool(&self, key: &str) -> bool {
        (self.0)(key).and_then(|v| value::parse_bool(v).ok()).unwrap_or(false)
    }
    pub(crate) fn uint(&self, key: &str) -> u64 {
        (self.0)(key).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }
    pub(crate) fn float(&self, key: &str) -> Option<f64> {
        (self.0)(key).and_then(|v| v.trim().parse().ok())
    }
}

impl Config {
    fn from_values<'a>(get: &'a dyn Fn(&str) -> Option<&'a str>) -> Config {
        let v = Values(get);
        Config {
            model: ModelConfig::from_values(&v),
            agent: AgentConfig { max_turns: v.uint("agent.max_turns") as u32 },
            memory: MemoryConfig {
                memory_enabled: v.bool("memory.memory_enabled"),
                user_profile_enabled: v.bool("memory.user_profile_enabled"),
                memory_char_limit: v.uint("memory.memory_char_limit") as usize,
                user_char_limit: v.uint("memory.user_char_limit") as usize,
            },
            timezone: v.text("timezone"),
            log_level: v.text("logging.level").unwrap_or_else(|| "info".into()).to_ascii_lowercase(),
            api_server: ApiServerConfig {
                enabled: v.bool("api_server.enabled"),
                key: v.text("api_server.key"),
                host: v.text("api_server.host").unwrap_or_else(|| "127.0.0.1".into()),
                port: v.uint("api_server.port") as u16,
                cors_origins: v
                    .text("api_server.cors_origins")
                    .map(|s| s.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
                    .unwrap_or_default(),
                model_name: v.text("api_server.model_name").unwrap_or_else(|| "hermes-agent".into()),
                max_concurrent_runs: v.uint("gateway.api_server.max_concurrent_runs") as u32,
                model_routes: Vec::new(),
            },
            gateway: GatewayConfig {
                drain_timeout: std::time::Duration::from_secs(v.uint("gateway.drain_timeout_seconds")),
                max_inbound_media_bytes: v.uint("gateway.max_inbound_media_bytes"),
                lock_dir: v.text("gateway.lock_dir").filter(|d| !d.is_empty()).map(std::path::PathBuf::from),
            },
            telegram: TelegramConfig::from_values(&v),
            weixin: WeixinConfig::from_values(&v),
            sessions: SessionsConfig::from_values(&v),
            access: AccessConfig::from_values(&v),
        }
    }
}

/// The effective configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub config: Config,
    values: BTreeMap<&'static str, Entry>,
    /// Keys herald did not recognise, and similar non-fatal notes.
    pub warnings: Vec<String>,
}

/// One row of `herald config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownSetting {
    pub key: &'static str,
    /// The value, masked when the setting is secret; `None` when unset.
    pub value: Option<String>,
    pub origin: Option<Origin>,
    pub env: &'static [&'static str],
}

/// Masks a secret so that it can be recognised but not used: `sk-…wxyz`.
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "****".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl Effective {
    /// Every setting in registry order, secrets masked.
    pub fn shown(&self) -> Vec<ShownSetting> {
        SETTINGS
            .iter()
            .map(|s| {
                let entry = self.values.get(s.key);
                ShownSetting {
                    key: s.key,
                    value: entry.map(|e| if s.secret { mask_secret(&e.value) } else { e.value.clone() }),
                    origin: entry.map(|e| e.origin.clone()),
                    env: s.env,
                }
            })
            .collect()
    }

    /// Where the value of `key` came from, if it is set.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|e| &e.origin)
    }
}

#[cfg(test)]
mod tests;
