//! A minimal HTTP/1.1 client: one keep-alive connection per simulated user.
//!
//! Each `Conn` owns one TCP connection (Nagle off) and reconnects if the server
//! closes it. No pool, no TLS, no redirects: the load generator should cost as
//! little CPU as possible, since it shares the machine with the gateway under test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What a load phase sends: where, with which key and model, and what a good answer contains.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `Authorization: Bearer` value; `None` sends no header.
    pub key: Option<String>,
    /// The `model` field of every request.
    pub model: String,
    /// A non-streamed answer must contain this (the scripted LLM's reply), which proves
    /// the request went through the LLM rather than being answered from somewhere else.
    pub expect: String,
    /// How long one request may take before it counts as an error.
    pub timeout: Duration,
}

/// Timing of one successful request.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// From writing the request to the end of the response body.
    pub total: Duration,
    /// From writing the request to the first body bytes (the first SSE event when streaming).
    pub first_body: Duration,
    /// Streaming only: from writing the request to the first event carrying answer text
    /// (a gateway may send an empty role-only event before the LLM has answered).
    pub first_token: Option<Duration>,
}

/// Why a request did not count.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with a status other than 200.
    Status(u16, String),
    /// A 200 whose body lacked the expected reply (or `[DONE]` when streaming).
    BadBody(String),
    /// Connect, I/O or timeout.
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(code, body) => write!(f, "HTTP {code}: {body}"),
            Failure::BadBody(body) => write!(f, "unexpected body: {body}"),
            Failure::Transport(err) => write!(f, "{err}"),
        }
    }
}

/// Makes every user message in a whole run different, so no gateway or LLM layer can
/// serve a repeat from a cache or deduplicate it.
static MESSAGE_SEQ: AtomicU64 = AtomicU64::new(0);

pub fn chat_body(model: &str, stream: bool, tag: &str) -> Bytes {
    let n = MESSAGE_SEQ.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": format!("bench {tag} message {n}: what is {n} plus 7?")}],
    });
    Bytes::from(serde_json::to_vec(&body).expect("a JSON value serializes"))
}

pub struct Conn {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
    host: String,
}

impl Conn {
    pub fn new(endpoint: Endpoint) -> Self {
        let host = endpoint.addr.to_string();
        Conn { endpoint, sender: None, host }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.endpoint.addr)
                .await
                .with_context(|| format!("connect to {}", self.endpoint.addr))?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("just connected");
        sender.ready().await?;
        Ok(sender)
    }

    /// One chat completion with a fresh user message.
    pub async fn chat(&mut self, stream: bool, tag: &str) -> Result<Timing, Failure> {
        let body = chat_body(&self.endpoint.model, stream, tag);
        let timeout = self.endpoint.timeout;
        match tokio::time::timeout(timeout, self.chat_inner(body, stream)).await {
            Ok(result) => {
                if result.is_err() {
                    // Never reuse a connection after a failure: it may hold half a response.
                    self.sender = None;
                }
                result
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::Transport(format!("no complete answer within {timeout:?}")))
            }
        }
    }

    async fn chat_inner(&mut self, body: Bytes, stream: bool) -> Result<Timing, Failure> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/v1/chat/completions")
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(key) = &self.endpoint.key {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        let request = builder.body(Full::new(body)).expect("a valid request");
        let sender = self.connect().await.map_err(|e| Failure::Transport(format!("{e:#}")))?;
        let start = Instant::now();
        let response = sender.send_request(request).await.map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut first_body = None;
        let mut first_token = None;
        let mut collected = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::Transport(e.to_string()))?;
            if let Some(data) = frame.data_ref()
                && !data.is_empty()
            {
                first_body.get_or_insert_with(|| start.elapsed());
                let scanned = collected.len();
                collected.extend_from_slice(data);
                if stream && first_token.is_none() && has_text_delta(&collected[scanned.saturating_sub(1024)..]) {
                    first_token = Some(start.elapsed());
                }
            }
        }
        let total = start.elapsed();
        let snippet = || String::from_utf8_lossy(&collected[..collected.len().min(300)]).into_owned();
        if status != 200 {
            return Err(Failure::Status(status, snippet()));
        }
        let needle: &[u8] = if stream { b"[DONE]" } else { self.endpoint.expect.as_bytes() };
        if !contains(&collected, needle) {
            return Err(Failure::BadBody(snippet()));
        }
        Ok(Timing { total, first_body: first_body.unwrap_or(total), first_token })
    }
}

/// Whether some complete SSE `data:` line in `bytes` is a chunk whose delta has non-empty content.
/// Parsing JSON only until the first hit keeps the cost to a few small parses per streamed answer.
fn has_text_delta(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return false,
    };
    complete.lines().filter_map(|line| line.strip_prefix("data:")).map(str::trim).any(|payload| {
        serde_json::from_str::<serde_json::Value>(payload).ok().is_some_and(|chunk| {
            chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|content| !content.is_empty())
        })
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `GET path` on a new connection; the status code, or an error if nothing answered.
pub async fn get_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    driver.abort();
    if status == 0 {
        bail!("no status");
    }
    Ok(status)
}
