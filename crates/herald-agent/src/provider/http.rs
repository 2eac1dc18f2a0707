//! What both wire clients share on the HTTP side: client construction with herald's
//! timeouts, and reading a body or an event stream under those timeouts.
//!
//! Stream decoding is split from the socket: [`decode_stream`] runs a
//! [`StreamDecoder`] over bytes in memory exactly as [`Transport`] does over a live
//! response, so recorded streams are unit-tested and fuzzed through the same path.

use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::errors::{error_from_response, error_message};
use super::sse::{SseError, SseEvent, SseParser};
use super::{Completion, ProviderError, StreamDelta};

/// How long a provider call may take at each stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// A whole non-streaming call, and the wait for response headers when streaming.
    /// Long, because a large answer from a slow model legitimately takes minutes.
    pub request: Duration,
    /// The longest silence between two chunks of a streamed answer. A stream that keeps
    /// flowing may run as long as it likes; one that stops is a dead connection.
    /// Generous because some reasoning models send nothing while they think.
    pub stream_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(600),
            stream_idle: Duration::from_secs(180),
        }
    }
}

/// A provider client could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot set up the {provider} client: {detail}")]
pub struct ProviderSetupError {
    pub provider: &'static str,
    pub detail: String,
}

/// Largest non-streamed answer read. Far above any real completion; it only stops a
/// misbehaving server from filling memory.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Error bodies are read only for their message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Builds the shared reqwest client: herald's user agent and connect timeout. Other
/// timeouts are applied per call, because streaming and non-streaming need different
/// ones and reqwest's per-request timeout would also cut a healthy long stream.
pub(crate) fn build_client(provider: &'static str, timeouts: &Timeouts) -> Result<reqwest::Client, ProviderSetupError> {
    // reqwest is built without a bundled crypto provider and panics when none is
    // installed. The binary installs ring at start; doing it here too (a no-op if one
    // is already installed) keeps library users and tests from hitting that panic.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .build()
        .map_err(|e| ProviderSetupError { provider, detail: error_chain(&e) })
}

/// Parses user-supplied extra headers, naming the bad one on failure.
pub(crate) fn parse_headers(
    provider: &'static str,
    headers: &[(String, String)],
) -> Result<HeaderMap, ProviderSetupError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let bad = |what: &str| ProviderSetupError {
            provider,
            detail: format!("extra header `{name}` has an invalid {what}"),
        };
        let name_ = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| bad("value"))?;
        value.set_sensitive(true);
        map.append(name_, value);
    }
    Ok(map)
}

/// The endpoint as shown in errors: without any `user:password@` it was given.
pub(crate) fn display_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Joins `{base}` and `{path}` with exactly one slash, and checks the result is an
/// http(s) URL.
pub(crate) fn endpoint(provider: &'static str, base: &str, path: &str) -> Result<reqwest::Url, ProviderSetupError> {
    let joined = format!("{}/{}", base.trim().trim_end_matches('/'), path.trim_start_matches('/'));
    let url = reqwest::Url::parse(&joined)
        .map_err(|e| ProviderSetupError { provider, detail: format!("base URL `{base}` is not a valid URL: {e}") })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderSetupError {
            provider,
            detail: format!("base URL `{base}` must start with http:// or https://"),
        });
    }
    Ok(url)
}

/// A reqwest error with its causes, e.g. `client error (Connect): tcp connect error:
/// Connection refused (os error 111)`. The top level is left out: it only repeats the
/// URL, which the error variants carry separately.
pub(crate) fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.last().is_some_and(|last: &String| last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

/// Progress reported by a stream decoder after one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    More,
    /// The provider's end marker arrived; nothing after it matters.
    Done,
}

/// Turns a provider's SSE events into deltas and, at the end, a [`Completion`].
/// Implementations are pure state machines, so they can be fed recorded streams.
pub trait StreamDecoder {
    fn on_event(&mut self, event: &SseEvent, emit: &mut dyn FnMut(StreamDelta)) -> Result<Progress, ProviderError>;

    /// Called at the end marker or at end of input. A decoder that has not seen its
    /// end marker decides whether what it has is whole (else [`ProviderError::StreamCut`]).
    fn finish(self) -> Result<Completion, ProviderError>;
}

/// Runs a decoder over an in-memory stream cut into arbitrary chunks: the same code
/// path as a live stream, minus the socket. Used by tests and the fuzzer.
pub fn decode_stream<'a, D: StreamDecoder>(
    provider: &'static str,
    mut decoder: D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    emit: &mut dyn FnMut(StreamDelta),
) -> Result<Completion, ProviderError> {
    let mut parser = SseParser::new();
    for chunk in chunks {
        if feed(provider, &mut parser, &mut decoder, chunk, emit)? == Progress::Done {
            return decoder.finish();
        }
    }
    finish_stream(provider, parser, decoder, emit)
}

fn feed<D: StreamDecoder>(
    provider: &'static str,
    parser: &mut SseParser,
    decoder: &mut D,
    chunk: &[u8],
    emit: &mut dyn FnMut(StreamDelta),
) -> Result<Progress, ProviderError> {
    parser.push(chunk);
    while let Some(event) = parser.next_event().map_err(|e| sse_error(provider, e))? {
        if decoder.on_event(&event, emit)? == Progress::Done {
            return Ok(Progress::Done);
        }
    }
    Ok(Progress::More)
}

fn finish_stream<D: StreamDecoder>(
    provider: &'static str,
    mut parser: SseParser,
    mut decoder: D,
    emit: &mut dyn FnMut(StreamDelta),
) -> Result<Completion, ProviderError> {
    if let Some(event) = parser.finish().map_err(|e| sse_error(provider, e))? {
        decoder.on_event(&event, emit)?;
    }
    decoder.finish()
}

fn sse_error(provider: &'static str, e: SseError) -> ProviderError {
    ProviderError::Malformed { provider, detail: e.to_string() }
}

/// The HTTP client, built on first use: building it loads every trusted root
/// certificate of the system (hundreds of files), which would otherwise delay the
/// gateway's start and hold memory before any model is called.
#[derive(Debug, Clone)]
pub(crate) struct LazyClient {
    provider: &'static str,
    timeouts: Timeouts,
    cell: std::sync::Arc<std::sync::OnceLock<Result<reqwest::Client, ProviderSetupError>>>,
}

impl LazyClient {
    pub(crate) fn new(provider: &'static str, timeouts: Timeouts) -> Self {
        LazyClient { provider, timeouts, cell: Default::default() }
    }

    pub(crate) fn get(&self, url: &str) -> Result<&reqwest::Client, ProviderError> {
        self.cell.get_or_init(|| build_client(self.provider, &self.timeouts)).as_ref().map_err(|e| {
            ProviderError::Connect { provider: self.provider, url: url.to_string(), detail: e.to_string() }
        })
    }
}

/// Sends requests for one provider and reads the answers under its timeouts.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub client: LazyClient,
    pub provider: &'static str,
    pub key_hint: &'static str,
    pub timeouts: Timeouts,
    /// Shown in connection errors. The endpoint, never with credentials.
    pub url: String,
}

impl Transport {
    /// Sends the request and waits for a success status. Error statuses are read and
    /// mapped here, so callers only see answers worth parsing.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        let timeout = self.timeouts.request;
        let response = match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => {
                return Err(ProviderError::Timeout { provider: self.provider, timeout });
            }
            Ok(Err(e)) if e.is_timeout() => {
                // Only the connect timeout is set on the client.
                return Err(ProviderError::Timeout { provider: self.provider, timeout: self.timeouts.connect });
            }
            // Refused, reset, DNS, TLS, or the server closing before answering: all
            // "could not get an answer from there", all worth another try.
            Ok(Err(e)) => {
                return Err(ProviderError::Connect {
                    provider: self.provider,
                    url: self.url.clone(),
                    detail: error_chain(&e),
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        // The error body is a courtesy: its start holds the message, and if it does
        // not come promptly the status is enough to act on.
        let body = match self.read_capped(response, MAX_ERROR_BODY, Duration::from_secs(10)).await {
            Ok((body, _truncated)) => body,
            Err(_) => Bytes::new(),
        };
        Err(error_from_response(self.provider, self.key_hint, status.as_u16(), &headers, &body, Timestamp::now()))
    }

    /// Reads a whole body, failing past [`MAX_BODY`] bytes or `timeout`.
    pub async fn read_body(&self, response: reqwest::Response, timeout: Duration) -> Result<Bytes, ProviderError> {
        match self.read_capped(response, MAX_BODY, timeout).await? {
            (body, false) => Ok(body),
            (_, true) => Err(ProviderError::Malformed {
                provider: self.provider,
                detail: format!("the response body is larger than {MAX_BODY} bytes"),
            }),
        }
    }

    /// Reads at most `limit` bytes of a body; the flag says whether there was more.
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
        limit: usize,
        timeout: Duration,
    ) -> Result<(Bytes, bool), ProviderError> {
        let read = async {
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| self.cut(&e))? {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((Bytes::from(body), true));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((Bytes::from(body), false))
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| ProviderError::Timeout { provider: self.provider, timeout })?
    }

    /// Reads the answer to a streaming request: an event stream through `decoder`,
    /// or a whole JSON answer through `parse_whole`, passed on as deltas all the same.
    pub async fn read_streamed<D: StreamDecoder>(
        &self,
        response: reqwest::Response,
        decoder: D,
        parse_whole: fn(&[u8]) -> Result<Completion, ProviderError>,
        emit: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        match body_kind(&response) {
            BodyKind::EventStream => self.read_stream(response, decoder, emit).await,
            BodyKind::Json => {
                let body = self.read_body(response, self.timeouts.request).await?;
                let completion = parse_whole(&body)?;
                emit_completion(&completion, emit);
                Ok(completion)
            }
            BodyKind::Html => {
                let (body, _) = self.read_capped(response, 4096, Duration::from_secs(10)).await.unwrap_or_default();
                Err(ProviderError::Malformed {
                    provider: self.provider,
                    detail: format!("expected an event stream, got an HTML page: {}", error_message(&body, 200)),
                })
            }
        }
    }

    /// Reads an event stream through `decoder`, allowing at most `stream_idle` between
    /// chunks. Dropping the returned future drops the connection, which is how a turn
    /// is cancelled.
    async fn read_stream<D: StreamDecoder>(
        &self,
        mut response: reqwest::Response,
        mut decoder: D,
        emit: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        let idle = self.timeouts.stream_idle;
        let mut parser = SseParser::new();
        loop {
            let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                Err(_) => {
                    return Err(ProviderError::Timeout { provider: self.provider, timeout: idle });
                }
                Ok(Err(e)) => return Err(self.cut(&e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            if feed(self.provider, &mut parser, &mut decoder, &chunk, emit)? == Progress::Done {
                return decoder.finish();
            }
        }
        finish_stream(self.provider, parser, decoder, emit)
    }

    fn cut(&self, e: &reqwest::Error) -> ProviderError {
        ProviderError::StreamCut { provider: self.provider, detail: error_chain(e) }
    }
}

/// What a 200 answer to a streaming request turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    EventStream,
    /// Some OpenAI-compatible servers ignore `stream: true`, and some proxies answer
    /// errors with a 200 JSON body.
    Json,
    /// A captive portal or a misconfigured proxy: never an answer, and retrying will
    /// not make it one.
    Html,
}

/// Judged by `Content-Type`; anything unexpected (or missing) is read as a stream,
/// since some servers label their streams oddly.
fn body_kind(response: &reqwest::Response) -> BodyKind {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_start()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        BodyKind::Json
    } else if content_type.starts_with("text/html") {
        BodyKind::Html
    } else {
        BodyKind::EventStream
    }
}

/// Passes a complete answer on as deltas, for a streaming call answered in one piece,
/// so the caller sees the same deltas either way.
fn emit_completion(completion: &Completion, emit: &mut dyn FnMut(StreamDelta)) {
    if let Some(reasoning) = completion.reasoning.as_ref().filter(|r| !r.is_empty()) {
        emit(StreamDelta::Reasoning(reasoning.clone()));
    }
    if !completion.content.is_empty() {
        emit(StreamDelta::Text(completion.content.clone()));
    }
    for call in &completion.tool_calls {
        emit(StreamDelta::ToolCallStarted { id: call.id.clone(), name: call.name.clone() });
    }
}

/// `serde_json` widens an `f32` to `f64` digit for digit (0.7 becomes
/// 0.699999988079071); going through its shortest decimal form sends what was
/// configured.
pub(crate) fn f32_to_json(value: f32) -> Value {
    value.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

/// Deserializes a token count leniently: a number (floats truncated), else 0. Usage is
/// bookkeeping; a server that formats it oddly should not fail the answer.
pub(crate) fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value: Option<Value> = serde::Deserialize::deserialize(d)?;
    Ok(match value {
        Some(Value::Number(n)) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)).unwrap_or(0)
        }
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: &str = "openai";

    #[test]
    fn endpoints_tolerate_trailing_slashes() {
        let u = |b: &str| endpoint(OPENAI, b, "chat/completions").map(|u| u.to_string());
        assert_eq!(u("https://api.openai.com/v1").unwrap(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(u("http://127.0.0.1:11434/v1/").unwrap(), "http://127.0.0.1:11434/v1/chat/completions");
        assert!(u("not a url").is_err());
        assert!(u("ftp://example.com").is_err());
        let with_credentials = endpoint(OPENAI, "https://me:secret@proxy.example/v1", "x").unwrap();
        assert_eq!(display_url(&with_credentials), "https://proxy.example/v1/x");
    }

    #[test]
    fn extra_headers_are_validated() {
        let ok = parse_headers(OPENAI, &[("X-Title".into(), "herald".into())]).unwrap();
        assert_eq!(ok.get("x-title").unwrap(), "herald");
        let err = parse_headers(OPENAI, &[("bad name".into(), "v".into())]).unwrap_err();
        assert!(err.to_string().contains("`bad name`"), "{err}");
        assert!(parse_headers(OPENAI, &[("x".into(), "line\nbreak".into())]).is_err());
    }

    #[test]
    fn temperature_is_sent_as_configured() {
        assert_eq!(f32_to_json(0.7).to_string(), "0.7");
        assert_eq!(f32_to_json(f32::NAN), Value::Null);
    }
}
