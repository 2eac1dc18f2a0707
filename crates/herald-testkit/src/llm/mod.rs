//! A scripted LLM server on 127.0.0.1 speaking the OpenAI chat-completions and
//! Anthropic Messages wire formats, streaming and not, on one port.
//!
//! ```no_run
//! # async fn demo() {
//! use herald_testkit::llm::{Reply, ScriptedLlm};
//! use serde_json::json;
//!
//! let llm = ScriptedLlm::start().await;
//! llm.push(Reply::tool_call("search", json!({"q": "weather"})));
//! llm.push(Reply::text("It is sunny."));
//! // Point the client at llm.openai_base_url() (…/v1) or llm.anthropic_base_url().
//! // …run the code under test…
//! let requests = llm.requests();
//! assert_eq!(requests[0].last_user_text().as_deref(), Some("weather?"));
//! # }
//! ```
//!
//! Routes: `POST /v1/chat/completions` (and `/chat/completions`) is the OpenAI
//! wire, `POST /v1/messages` the Anthropic wire; each model request takes the
//! next scripted [`Reply`], or the fallback when none is queued. The control
//! interface for other processes is described in [`control`].

mod answer;
mod anthropic;
mod body;
mod chunk;
pub mod control;
mod model;
mod openai;
mod record;
mod request;
mod script;
mod server;
mod state;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use record::{RecordedRequest, Wire};
pub use script::{Reply, ScriptedToolCall};

use state::Shared;

/// How a [`ScriptedLlm`] is set up; `ServerOptions::default()` is what
/// [`ScriptedLlm::start`] uses.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The most pieces a streamed text (split between words) or a tool call's
    /// arguments (split anywhere) is sent in.
    pub chunks: usize,
    /// Pause between stream events; zero sends them as fast as the socket takes them.
    pub chunk_delay: Duration,
    /// Whether requests are kept for [`ScriptedLlm::requests`]. Off, the server
    /// only counts them and skips building a JSON tree per request.
    pub record: bool,
    /// The reply when the queue is empty.
    pub fallback: Reply,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { port: 0, chunks: 8, chunk_delay: Duration::ZERO, record: true, fallback: Reply::Echo }
    }
}

/// A running scripted LLM server. Dropping the handle (or calling
/// [`shutdown`](Self::shutdown)) stops it and closes its open connections.
pub struct ScriptedLlm {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl ScriptedLlm {
    /// Starts a server on an ephemeral port of 127.0.0.1 with default options.
    ///
    /// # Panics
    /// If no port on 127.0.0.1 can be bound, which leaves a test nothing to do.
    pub async fn start() -> ScriptedLlm {
        match Self::start_with(ServerOptions::default()).await {
            Ok(llm) => llm,
            Err(err) => {
                panic!("herald-testkit: cannot bind 127.0.0.1:0 for the scripted LLM: {err}")
            }
        }
    }

    /// Starts a server with these options on the current tokio runtime.
    pub async fn start_with(options: ServerOptions) -> io::Result<ScriptedLlm> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(options.fallback, options.record, options.chunks, options.chunk_delay));
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, Arc::clone(&shared), stop.clone()));
        Ok(ScriptedLlm { shared, addr, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`: clients POST `{base}/chat/completions`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT`: clients POST `{base}/v1/messages`.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply; model requests take queued replies first in, first out.
    pub fn push(&self, reply: Reply) {
        self.shared.script().push(reply);
    }

    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        let mut script = self.shared.script();
        for reply in replies {
            script.push(reply);
        }
    }

    /// Sets the reply used when the queue is empty (initially [`Reply::Echo`]).
    pub fn set_fallback(&self, reply: Reply) {
        self.shared.script().set_fallback(reply);
    }

    /// How many pushed replies are still waiting.
    pub fn queued(&self) -> usize {
        self.shared.script().queued()
    }

    /// Every model request recorded so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded().clone()
    }

    /// The most recent recorded model request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.recorded().last().cloned()
    }

    /// How many model requests arrived, counted even while recording is off.
    pub fn request_count(&self) -> usize {
        self.shared.received()
    }

    /// Forgets recorded requests and resets the count.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Turns recording on or off; requests are counted either way.
    pub fn set_recording(&self, on: bool) {
        self.shared.set_recording(on);
    }

    /// Waits until at least `n` model requests have arrived (they are recorded
    /// before any scripted delay, so this also sees requests still being
    /// answered slowly). Returns `false` if `within` passes first.
    pub async fn wait_for_requests(&self, n: usize, within: Duration) -> bool {
        tokio::time::timeout(within, self.shared.wait_for(n)).await.is_ok()
    }

    /// Stops accepting and closes every open connection. Also done on drop.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for ScriptedLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLlm")
            .field("addr", &self.addr)
            .field("queued", &self.queued())
            .field("requests", &self.request_count())
            .finish()
    }
}
