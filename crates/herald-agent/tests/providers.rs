//! The wire clients against a tiny scripted HTTP/1.1 server on 127.0.0.1: retries,
//! `Retry-After`, timeouts, cut streams and broken bodies, as real servers produce them.
//!
//! The server is raw TCP on purpose: it can do what a well-behaved HTTP library
//! would not (close mid-stream, stall, answer garbage).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_agent::provider::{
    AnthropicConfig, AnthropicProvider, ChatRequest, Completion, OpenAiConfig, OpenAiProvider, Provider, ProviderError,
    RetryPolicy, StreamDelta, SystemBlock, Timeouts, ToolSpec,
};
use herald_core::{FinishReason, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One thing the server does on a connection after reading the request.
#[derive(Clone)]
enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
    /// Read until the client hangs up, and note that it did.
    AwaitHangUp,
}

#[derive(Debug, Clone)]
struct Recorded {
    request_line: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
    at: Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Log {
    requests: Vec<Recorded>,
    hang_ups: usize,
}

/// Serves connection `i` with `scripts[i]` (the last script repeats), one request per
/// connection.
struct Server {
    base: String,
    log: Arc<Mutex<Log>>,
}

impl Server {
    async fn start(scripts: Vec<Vec<Step>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Log::default()));
        let server_log = log.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let script = scripts[i.min(scripts.len() - 1)].clone();
                tokio::spawn(serve(socket, script, server_log.clone()));
            }
        });
        Server { base, log }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().requests.clone()
    }

    fn hang_ups(&self) -> usize {
        self.log.lock().unwrap().hang_ups
    }
}

async fn serve(mut socket: TcpStream, script: Vec<Step>, log: Arc<Mutex<Log>>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    log.lock().unwrap().requests.push(request);
    for step in script {
        match step {
            Step::Write(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::AwaitHangUp => {
                let mut buf = [0u8; 1024];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                log.lock().unwrap().hang_ups += 1;
            }
        }
    }
    // Dropping the socket closes it: the end of a close-delimited body.
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(serde_json::Value::Null);
    Some(Recorded { request_line, headers, body, at: Instant::now() })
}

/// A complete response. `Connection: close` keeps the client from reusing a
/// connection this server will not read from again.
fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Step {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    Step::Write(out.into_bytes())
}

fn json_response(body: &str) -> Step {
    response("200 OK", &[("Content-Type", "application/json")], body)
}

/// Headers of an event stream whose body ends when the connection closes.
fn sse_head() -> Step {
    Step::Write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n".to_vec())
}

fn sse_head_chunked() -> Step {
    Step::Write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
}

fn chunk(data: &str) -> Step {
    Step::Write(format!("{:x}\r\n{data}\r\n", data.len()).into_bytes())
}

fn last_chunk() -> Step {
    Step::Write(b"0\r\n\r\n".to_vec())
}

fn write(data: &str) -> Step {
    Step::Write(data.as_bytes().to_vec())
}

fn openai_event(delta: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}]}}\n\n")
}

const OPENAI_OK: &str = r#"{"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;

fn request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: vec![SystemBlock { text: "You are terse.".into(), cache: true }],
        messages: vec![Message::user("hi")],
        tools: vec![ToolSpec {
            name: "clock".into(),
            description: "The time".into(),
            parameters: serde_json::json!({"type": "object"}),
        }],
        max_tokens: 64,
        temperature: None,
        reasoning: None,
        thinking: vec![],
    }
}

/// Quick retries so failing paths do not slow the suite; `Retry-After` still rules.
fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn timeouts() -> Timeouts {
    Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(20), stream_idle: Duration::from_secs(20) }
}

fn openai(base: &str, max_retries: u32) -> OpenAiProvider {
    let _ = rustls::crypto::ring::default_provider().install_default();
    OpenAiProvider::new(OpenAiConfig {
        base_url: format!("{base}/v1/"),
        api_key: Some("sk-test".into()),
        timeouts: timeouts(),
        max_retries,
        extra_headers: vec![("X-Title".into(), "herald-tests".into())],
    })
    .unwrap()
    .with_retry_policy(fast_retries(max_retries))
}

fn anthropic(base: &str, max_retries: u32) -> AnthropicProvider {
    let _ = rustls::crypto::ring::default_provider().install_default();
    AnthropicProvider::new(AnthropicConfig {
        base_url: base.into(),
        api_key: Some("sk-ant-test".into()),
        timeouts: timeouts(),
        max_retries,
        extra_headers: vec![],
    })
    .unwrap()
    .with_retry_policy(fast_retries(max_retries))
}

/// Runs a call, collecting deltas; a safety net turns a hang into a failure.
async fn call(provider: &dyn Provider, stream: bool) -> (Result<Completion, ProviderError>, Vec<StreamDelta>) {
    let mut deltas = Vec::new();
    let result =
        tokio::time::timeout(Duration::from_secs(60), provider.complete(&request(), stream, &mut |d| deltas.push(d)))
            .await
            .expect("the call hung");
    (result, deltas)
}

#[tokio::test]
async fn openai_honours_retry_after_then_succeeds() {
    let server = Server::start(vec![
        vec![response("429 Too Many Requests", &[("Retry-After", "1")], r#"{"error":{"message":"slow down"}}"#)],
        vec![json_response(OPENAI_OK)],
    ])
    .await;
    let (result, deltas) = call(&openai(&server.base, 3), false).await;
    let completion = result.unwrap();
    assert_eq!(completion.content, "hello");
    assert!(deltas.is_empty(), "non-streaming calls pass on no deltas");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_millis(900), "waited only {waited:?}");

    let first = &requests[0];
    assert_eq!(first.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(first.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(first.header("x-title"), Some("herald-tests"));
    assert!(first.header("user-agent").unwrap().starts_with("herald/"));
    assert_eq!(first.body["model"], "test-model");
    assert_eq!(first.body["messages"][0]["role"], "system");
    assert!(first.body.get("stream").is_none());
}

#[tokio::test]
async fn anthropic_retries_a_500_then_streams() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-test\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    // Chunk boundaries in awkward places: mid-line, mid-`\n\n`, mid-JSON.
    let mut script = vec![sse_head_chunked()];
    let bytes = stream.as_bytes();
    script.extend(bytes.chunks(37).map(|c| chunk(std::str::from_utf8(c).unwrap())));
    script.push(last_chunk());
    let server = Server::start(vec![
        vec![response(
            "500 Internal Server Error",
            &[("Content-Type", "application/json")],
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
        )],
        script,
    ])
    .await;

    let (result, deltas) = call(&anthropic(&server.base, 3), true).await;
    let completion = result.unwrap();
    assert_eq!(completion.content, "Hello");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!((completion.usage.input_tokens, completion.usage.output_tokens), (9, 2));
    assert_eq!(deltas, vec![StreamDelta::Text("Hel".into()), StreamDelta::Text("lo".into())]);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.request_line, "POST /v1/messages HTTP/1.1");
    assert_eq!(first.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(first.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(first.header("accept"), Some("text/event-stream"));
    assert_eq!(first.body["stream"], true);
    assert_eq!(first.body["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(first.body["tools"][0]["cache_control"]["type"], "ephemeral");
}

#[tokio::test]
async fn retries_exhausted_wraps_the_last_error() {
    let server = Server::start(vec![vec![response("503 Service Unavailable", &[], "try later")]]).await;
    let (result, _) = call(&openai(&server.base, 2), false).await;
    match result {
        Err(ProviderError::RetriesExhausted { attempts: 3, last }) => match *last {
            ProviderError::Server { status: 503, message, .. } => assert_eq!(message, "try later"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn auth_failures_are_not_retried() {
    let body = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let server = Server::start(vec![vec![response("401 Unauthorized", &[], body)]]).await;
    let (result, _) = call(&anthropic(&server.base, 3), true).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind and drop: the port is (almost certainly) free and nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let (result, _) = call(&openai(&base, 0), true).await;
    match result {
        Err(ProviderError::Connect { url, detail, .. }) => {
            assert!(url.contains(&port.to_string()), "{url}");
            assert!(!detail.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Retried like any other connection failure.
    let (result, _) = call(&openai(&base, 1), true).await;
    assert!(matches!(result, Err(ProviderError::RetriesExhausted { attempts: 2, .. })), "{result:?}");
}

#[tokio::test]
async fn malformed_json_body_is_not_retried() {
    let server = Server::start(vec![vec![json_response("{\"choices\": [ oops")]]).await;
    let (result, _) = call(&openai(&server.base, 3), false).await;
    assert!(matches!(result, Err(ProviderError::Malformed { .. })), "{result:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stream_cut_after_a_delta_is_not_retried() {
    let server = Server::start(vec![vec![
        sse_head(),
        write(&openai_event(r#"{"role":"assistant","content":"Hel"}"#)),
        write(&openai_event(r#"{"content":"lo"}"#)),
        write("data: {\"choices\":[{\"index\":0,\"delta\":{\"cont"),
    ]])
    .await;
    let (result, deltas) = call(&openai(&server.base, 3), true).await;
    assert!(matches!(result, Err(ProviderError::StreamCut { .. })), "{result:?}");
    assert_eq!(deltas, vec![StreamDelta::Text("Hel".into()), StreamDelta::Text("lo".into())]);
    assert_eq!(server.requests().len(), 1, "a retry would repeat text the user has seen");
}

#[tokio::test]
async fn stream_cut_before_any_delta_is_retried() {
    let server = Server::start(vec![
        vec![sse_head(), write(&openai_event(r#"{"role":"assistant","content":""}"#))],
        vec![
            sse_head(),
            write(&openai_event(r#"{"content":"whole"}"#)),
            write("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"),
        ],
    ])
    .await;
    let (result, deltas) = call(&openai(&server.base, 3), true).await;
    assert_eq!(result.unwrap().content, "whole");
    assert_eq!(deltas, vec![StreamDelta::Text("whole".into())]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn slow_first_byte_and_pauses_within_the_timeouts_work() {
    let server = Server::start(vec![vec![
        Step::Sleep(Duration::from_millis(1500)),
        sse_head(),
        Step::Sleep(Duration::from_millis(500)),
        write(&openai_event(r#"{"content":"slow"}"#)),
        Step::Sleep(Duration::from_millis(500)),
        write("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"),
    ]])
    .await;
    let (result, _) = call(&openai(&server.base, 0), true).await;
    assert_eq!(result.unwrap().content, "slow");
}

#[tokio::test]
async fn a_stalled_stream_times_out() {
    let server = Server::start(vec![vec![
        sse_head(),
        write(&openai_event(r#"{"content":"a"}"#)),
        Step::Sleep(Duration::from_secs(30)),
    ]])
    .await;
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url: server.base.clone(),
        timeouts: Timeouts { stream_idle: Duration::from_millis(300), ..timeouts() },
        ..OpenAiConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let (result, _) = call(&provider, true).await;
    assert!(matches!(result, Err(ProviderError::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // No key configured: no Authorization header at all.
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_streams() {
    let server = Server::start(vec![vec![json_response(OPENAI_OK)]]).await;
    let (result, deltas) = call(&openai(&server.base, 0), true).await;
    assert_eq!(result.unwrap().content, "hello");
    assert_eq!(deltas, vec![StreamDelta::Text("hello".into())]);
}

#[tokio::test]
async fn dropping_the_call_hangs_up() {
    let server =
        Server::start(vec![vec![sse_head(), write(&openai_event(r#"{"content":"a"}"#)), Step::AwaitHangUp]]).await;
    let provider = openai(&server.base, 0);
    let request = request();
    let mut seen = Vec::new();
    let mut on_delta = |d| seen.push(d);
    let call = provider.complete(&request, true, &mut on_delta);
    // The stream never ends; the caller gives up, as a `/stop` would.
    assert!(tokio::time::timeout(Duration::from_millis(500), call).await.is_err());
    assert_eq!(seen, vec![StreamDelta::Text("a".into())]);
    for _ in 0..100 {
        if server.hang_ups() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the connection stayed open after the call was dropped");
}

#[tokio::test]
async fn an_html_page_instead_of_a_stream_is_malformed_and_not_retried() {
    let page = "<html><body>Please log in to the hotel wifi</body></html>";
    let server =
        Server::start(vec![vec![response("200 OK", &[("Content-Type", "text/html; charset=utf-8")], page)]]).await;
    let (result, _) = call(&anthropic(&server.base, 3), true).await;
    match result {
        Err(ProviderError::Malformed { detail, .. }) => {
            assert!(detail.contains("hotel wifi"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}
