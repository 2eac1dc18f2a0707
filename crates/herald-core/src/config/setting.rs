//! One setting's description: what it accepts, where it is set, how it is shown.

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Bool,
    /// A whole number within the inclusive range.
    UInt {
        min: u64,
        max: u64,
    },
    /// A number within the inclusive range.
    Float {
        min: f64,
        max: f64,
    },
    /// One of the listed words (compared case-insensitively).
    Choice(&'static [&'static str]),
    /// An `http://` or `https://` URL.
    Url,
}

impl Kind {
    /// Says what the setting expects, for error messages.
    pub fn expected(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Bool => "true or false (also yes/no, on/off, 1/0)".into(),
            Kind::UInt { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Float { min, max } => format!("a number from {min} to {max}"),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::Url => "an http:// or https:// URL".into(),
        }
    }
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The dotted key in `config.yaml`.
    pub key: &'static str,
    /// Environment variables that set it, strongest first. `.env` uses the same names.
    pub env: &'static [&'static str],
    pub default: Option<&'static str>,
    pub kind: Kind,
    /// Masked by `herald config show` and never logged.
    pub secret: bool,
    pub help: &'static str,
}

pub(super) const fn setting(
    key: &'static str,
    env: &'static [&'static str],
    default: Option<&'static str>,
    kind: Kind,
    help: &'static str,
) -> Setting {
    Setting { key, env, default, kind, secret: false, help }
}

pub(super) const fn secret(key: &'static str, env: &'static [&'static str], help: &'static str) -> Setting {
    Setting { key, env, default: None, kind: Kind::Text, secret: true, help }
}
