//! The Anthropic Messages client.

mod stream;
mod wire;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use stream::AnthropicStreamDecoder;
pub use wire::{build_request, parse_response};

use super::http::{LazyClient, ProviderSetupError, Timeouts, Transport, display_url, endpoint, parse_headers};
use super::retry::{Retrier, RetryPolicy};
use super::{ChatRequest, Completion, Provider, ProviderError, StreamDelta};

pub(crate) const PROVIDER: &str = "anthropic";
const KEY_HINT: &str = "ANTHROPIC_API_KEY (providers.anthropic.api_key)";
/// The API version herald speaks; newer features are opted into with `anthropic-beta`.
const API_VERSION: &str = "2023-06-01";

/// Where and how to reach the Anthropic API (or a proxy that speaks it).
#[derive(Clone)]
pub struct AnthropicConfig {
    /// The API root; calls go to `{base_url}/v1/messages`. A trailing slash, or a
    /// trailing `/v1`, is fine.
    pub base_url: String,
    /// Sent as `x-api-key`. `None` sends none, for a proxy that adds its own.
    pub api_key: Option<String>,
    pub timeouts: Timeouts,
    /// Retries after the first attempt of a call (see [`RetryPolicy`]).
    pub max_retries: u32,
    /// Added to every request, e.g. `anthropic-beta`.
    pub extra_headers: Vec<(String, String)>,
}

impl AnthropicConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        AnthropicConfig {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            timeouts: Timeouts::default(),
            max_retries: RetryPolicy::default().max_retries,
            extra_headers: Vec::new(),
        }
    }
}

// Hand-written so the key never reaches a log through `{:?}`.
impl std::fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("timeouts", &self.timeouts)
            .field("max_retries", &self.max_retries)
            .field("extra_headers", &self.extra_headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// A client for the Anthropic Messages API. Cheap to share: hold it in an `Arc`.
#[derive(Debug)]
pub struct AnthropicProvider {
    transport: Transport,
    url: reqwest::Url,
    headers: HeaderMap,
    retry: RetryPolicy,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig) -> Result<Self, ProviderSetupError> {
        // A base URL ending in `/v1` is the usual slip (OpenAI's base URLs do); the
        // path is the same either way.
        let base = config.base_url.trim().trim_end_matches('/');
        let url = endpoint(PROVIDER, base.strip_suffix("/v1").unwrap_or(base), "v1/messages")?;
        let mut headers = parse_headers(PROVIDER, &config.extra_headers)?;
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(key).map_err(|_| ProviderSetupError {
                provider: PROVIDER,
                detail: "the API key contains characters that cannot be sent in a header".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION));
        Ok(AnthropicProvider {
            transport: Transport {
                client: LazyClient::new(PROVIDER, config.timeouts),
                provider: PROVIDER,
                key_hint: KEY_HINT,
                timeouts: config.timeouts,
                url: display_url(&url),
            },
            url,
            headers,
            retry: RetryPolicy::default().with_max_retries(config.max_retries),
        })
    }

    /// Replaces the whole retry schedule (the config sets only the count).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn attempt(
        &self,
        body: &serde_json::Value,
        stream: bool,
        emit: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        let request = self
            .transport
            .client
            .get(&self.transport.url)?
            .post(self.url.clone())
            .headers(self.headers.clone())
            .json(body);
        if !stream {
            let deadline = tokio::time::Instant::now() + self.transport.timeouts.request;
            let response = self.transport.send(request).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            return parse_response(&self.transport.read_body(response, left).await?);
        }
        let request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.transport.send(request).await?;
        self.transport.read_streamed(response, AnthropicStreamDecoder::new(), parse_response, emit).await
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(
        &self,
        request: &ChatRequest,
        stream: bool,
        on_delta: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        let body = build_request(request, stream);
        let mut retrier = Retrier::new(PROVIDER, &self.retry);
        loop {
            let result = self.attempt(&body, stream, &mut retrier.forward(on_delta)).await;
            match result {
                Ok(completion) => return Ok(completion),
                Err(error) => retrier.wait_or_fail(error).await?,
            }
        }
    }
}
