//! The model/provider part of the configuration, and how a provider is chosen.

use std::time::Duration;

use super::Values;

/// The wire format herald speaks to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI chat completions (also OpenRouter, Ollama, vLLM, llama.cpp, LM Studio).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// The model used when none is configured.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "gpt-4.1-mini",
            ProviderKind::Anthropic => "claude-sonnet-4-5",
        }
    }
}

/// Model settings as configured (not yet resolved).
#[derive(Clone)]
pub struct ModelConfig {
    /// `auto` or a provider name from [`super::registry::PROVIDER_CHOICES`].
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub openai_api_key: Option<String>,
    pub anthropic_api_key: Option<String>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub stream: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: u32,
}

// Hand-written so that keys never reach a log through `{:?}`.
impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "(set)"))
            .field("anthropic_api_key", &self.anthropic_api_key.as_ref().map(|_| "(set)"))
            .field("max_tokens", &self.max_tokens)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// A provider ready to be built.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub kind: ProviderKind,
    pub model: String,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedModel")
            .field("kind", &self.kind)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// The message shown when no provider is configured: exactly what to set.
pub fn missing_provider_help() -> &'static str {
    "no LLM provider is configured. Set one of:\n  \
     OPENAI_API_KEY=...            (OpenAI, or any OpenAI-compatible server with HERALD_LLM_BASE_URL)\n  \
     ANTHROPIC_API_KEY=...         (Anthropic)\n  \
     HERALD_LLM_BASE_URL=http://127.0.0.1:11434/v1   (a local server that needs no key, e.g. Ollama)\n\
     in the environment or in $HERALD_HOME/.env; optionally HERALD_PROVIDER=openai|anthropic and HERALD_MODEL=<model>."
}

impl ModelConfig {
    pub(super) fn from_values(v: &Values<'_>) -> ModelConfig {
        ModelConfig {
            provider: v.text("model.provider").unwrap_or_else(|| "auto".into()).to_ascii_lowercase(),
            model: v.text("model.default"),
            base_url: v.text("model.base_url").map(|u| u.trim_end_matches('/').to_string()),
            openai_api_key: v.text("providers.openai.api_key"),
            anthropic_api_key: v.text("providers.anthropic.api_key"),
            max_tokens: v.uint("model.max_tokens") as u32,
            temperature: v.float("model.temperature").map(|t| t as f32),
            stream: v.bool("model.stream"),
            timeout: Duration::from_secs(v.uint("model.timeout_seconds")),
            connect_timeout: Duration::from_secs(v.uint("model.connect_timeout_seconds")),
            max_retries: v.uint("model.max_retries") as u32,
        }
    }

    /// Chooses the provider: explicit `model.provider`, else inferred from which key is
    /// set, else OpenAI-compatible when only a base URL is given (local servers).
    pub fn resolve(&self) -> Result<ResolvedModel, String> {
        let kind = match self.provider.as_str() {
            "anthropic" => ProviderKind::Anthropic,
            "auto" => match (&self.openai_api_key, &self.anthropic_api_key, &self.base_url) {
                (Some(_), None, _) => ProviderKind::OpenAi,
                (None, Some(_), _) => ProviderKind::Anthropic,
                (Some(_), Some(_), _) => {
                    return Err("both OPENAI_API_KEY and ANTHROPIC_API_KEY are set; set HERALD_PROVIDER=openai or HERALD_PROVIDER=anthropic to choose".into());
                }
                (None, None, Some(_)) => ProviderKind::OpenAi,
                (None, None, None) => return Err(missing_provider_help().into()),
            },
            _ => ProviderKind::OpenAi,
        };
        let api_key = match kind {
            ProviderKind::OpenAi => self.openai_api_key.clone(),
            ProviderKind::Anthropic => self.anthropic_api_key.clone(),
        };
        if api_key.is_none() && self.base_url.is_none() {
            let var = match kind {
                ProviderKind::OpenAi => "OPENAI_API_KEY",
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            };
            return Err(format!(
                "the provider is {} but {var} is not set; set {var}, or HERALD_LLM_BASE_URL for a server that needs no key",
                kind.as_str()
            ));
        }
        Ok(ResolvedModel {
            kind,
            model: self.model.clone().unwrap_or_else(|| kind.default_model().to_string()),
            base_url: self.base_url.clone(),
            api_key,
        })
    }
}
