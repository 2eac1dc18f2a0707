//! The OpenAI chat-completions client, which also serves every server that speaks
//! that format: OpenRouter, Ollama, vLLM, llama.cpp, LM Studio.

mod stream;
mod wire;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

pub use stream::OpenAiStreamDecoder;
pub use wire::{build_request, parse_response};

use super::http::{LazyClient, ProviderSetupError, Timeouts, Transport, display_url, endpoint, parse_headers};
use super::retry::{Retrier, RetryPolicy};
use super::{ChatRequest, Completion, Provider, ProviderError, StreamDelta};

pub(crate) const PROVIDER: &str = "openai";
const KEY_HINT: &str = "OPENAI_API_KEY (providers.openai.api_key)";

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root; calls go to `{base_url}/chat/completions`. A trailing slash is fine.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`. `None` sends no such header, for local
    /// servers that need no key.
    pub api_key: Option<String>,
    pub timeouts: Timeouts,
    /// Retries after the first attempt of a call (see [`RetryPolicy`]).
    pub max_retries: u32,
    /// Added to every request, e.g. OpenRouter's `HTTP-Referer` and `X-Title`.
    pub extra_headers: Vec<(String, String)>,
}

impl OpenAiConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            timeouts: Timeouts::default(),
            max_retries: RetryPolicy::default().max_retries,
            extra_headers: Vec::new(),
        }
    }
}

// Hand-written so the key never reaches a log through `{:?}`.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("timeouts", &self.timeouts)
            .field("max_retries", &self.max_retries)
            .field("extra_headers", &self.extra_headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// A client for one OpenAI-compatible server. Cheap to share: hold it in an `Arc`.
#[derive(Debug)]
pub struct OpenAiProvider {
    transport: Transport,
    url: reqwest::Url,
    headers: HeaderMap,
    retry: RetryPolicy,
    /// OpenAI's own API rejects `max_tokens` for its newer models (o-series, gpt-5) and
    /// wants `max_completion_tokens`, which every model there accepts; compatible
    /// servers (vLLM, Ollama, llama.cpp) know only `max_tokens`.
    max_completion_tokens: bool,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderSetupError> {
        let url = endpoint(PROVIDER, &config.base_url, "chat/completions")?;
        let mut headers = parse_headers(PROVIDER, &config.extra_headers)?;
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| ProviderSetupError {
                provider: PROVIDER,
                detail: "the API key contains characters that cannot be sent in a header".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(OpenAiProvider {
            transport: Transport {
                client: LazyClient::new(PROVIDER, config.timeouts),
                provider: PROVIDER,
                key_hint: KEY_HINT,
                timeouts: config.timeouts,
                url: display_url(&url),
            },
            headers,
            retry: RetryPolicy::default().with_max_retries(config.max_retries),
            max_completion_tokens: url.host_str() == Some("api.openai.com"),
            url,
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
        self.transport.read_streamed(response, OpenAiStreamDecoder::new(), parse_response, emit).await
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(
        &self,
        request: &ChatRequest,
        stream: bool,
        on_delta: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        let mut body = build_request(request, stream);
        if self.max_completion_tokens
            && let Some(map) = body.as_object_mut()
            && let Some(limit) = map.remove("max_tokens")
        {
            map.insert("max_completion_tokens".into(), limit);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_limit_field_follows_the_server() {
        let official = OpenAiProvider::new(OpenAiConfig::default()).unwrap();
        assert!(official.max_completion_tokens);
        let local =
            OpenAiProvider::new(OpenAiConfig { base_url: "http://127.0.0.1:11434/v1".into(), ..Default::default() })
                .unwrap();
        assert!(!local.max_completion_tokens);
    }
}
