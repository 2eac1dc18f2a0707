//! `ApiServer::serve` on a real listener: serving, draining, cancelling at the timeout.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use herald_web::{ApiConfig, ApiServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection, read to the end.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>, auth: bool) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if auth {
        req.push_str(&format!("Authorization: Bearer {KEY}\r\n"));
    }
    req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Raw { status, head: head.to_string(), body: if chunked { dechunk(body) } else { body.to_string() } }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

struct Running {
    addr: SocketAddr,
    backend: Arc<FakeBackend>,
    shutdown: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(config: ApiConfig) -> Running {
    let backend = Arc::new(FakeBackend::default());
    let server = ApiServer::new(config, backend.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let served = tokio::spawn(server.serve(listener, async move {
        let _ = rx.await;
    }));
    Running { addr, backend, shutdown: Some(tx), served }
}

impl Running {
    fn begin_shutdown(&mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
    }

    /// Waits until the server reports that it is draining.
    async fn wait_draining(&self) {
        for _ in 0..1000 {
            let r = call(self.addr, "GET", "/health/detailed", None, true).await;
            if r.status == 200 && r.json()["status"] == "draining" {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("server never started draining");
    }
}

#[tokio::test]
async fn serves_requests_over_tcp() {
    let mut s = serve(config()).await;
    let r = call(s.addr, "GET", "/health", None, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    let r = call(
        s.addr,
        "POST",
        "/v1/chat/completions",
        Some(json!({"messages": [{"role": "user", "content": "hi"}]})),
        true,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
    let r = call(s.addr, "POST", "/v1/chat/completions", Some(json!({})), false).await;
    assert_eq!(r.status, 401);
    s.begin_shutdown();
    s.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_header_with_a_bare_carriage_return_never_reaches_the_backend() {
    let s = serve(config()).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nX-Hermes-Session-Id: a\rb\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.expect("answer in time");
    let text = String::from_utf8_lossy(&raw);
    // The HTTP parser refuses it (or drops the connection); no turn either way.
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(s.backend.calls().is_empty());
}

#[tokio::test]
async fn draining_refuses_new_work_and_waits_for_running_turns() {
    let mut s = serve(config()).await;
    let gate = Arc::new(Semaphore::new(0));
    s.backend.push(script(vec![delta("slow answer"), Step::Gate(gate.clone())], End::Complete));
    let addr = s.addr;
    let running = tokio::spawn(async move {
        call(addr, "POST", "/v1/chat/completions", Some(json!({"messages": [{"role": "user", "content": "hi"}]})), true)
            .await
    });
    s.backend.wait_started(1).await;
    s.begin_shutdown();
    s.wait_draining().await;

    for (method, path, body) in [
        ("POST", "/v1/chat/completions", Some(json!({"messages": [{"role": "user", "content": "new"}]}))),
        ("POST", "/v1/runs", Some(json!({"input": "new"}))),
        ("GET", "/v1/models", None),
        ("GET", "/api/sessions", None),
    ] {
        let r = call(s.addr, method, path, body, true).await;
        assert_eq!(r.status, 503, "{method} {path}");
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
        assert_eq!(r.json()["error"]["code"], "gateway_draining");
    }
    // Health still answers during the drain.
    assert_eq!(call(s.addr, "GET", "/health", None, false).await.status, 200);
    let detailed = call(s.addr, "GET", "/health/detailed", None, true).await.json();
    assert_eq!(detailed["gateway_drainable"], false);
    assert_eq!(detailed["active_agents"], 1);
    assert_eq!(s.backend.turns().len(), 1);

    gate.add_permits(1);
    let finished = running.await.unwrap();
    assert_eq!(finished.status, 200);
    assert_eq!(finished.json()["choices"][0]["message"]["content"], "slow answer");
    s.served.await.unwrap().unwrap();
    assert_eq!(s.backend.cancelled_count(), 0);
}

#[tokio::test]
async fn at_the_drain_timeout_running_turns_are_cancelled_and_recorded() {
    let mut s = serve(ApiConfig { drain_timeout: Duration::ZERO, ..config() }).await;
    s.backend.push(script(vec![delta("partial"), Step::Hang], End::Complete));
    s.backend.push(script(vec![Step::Hang], End::Complete));
    let addr = s.addr;
    let stream = tokio::spawn(async move {
        call(
            addr,
            "POST",
            "/v1/chat/completions",
            Some(json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]})),
            true,
        )
        .await
    });
    s.backend.wait_started(1).await;
    let run = call(s.addr, "POST", "/v1/runs", Some(json!({"input": "long job"})), true).await;
    assert_eq!(run.status, 202);
    s.backend.wait_started(2).await;

    s.begin_shutdown();
    s.served.await.unwrap().unwrap();
    s.backend.wait_cancelled(2).await;

    // The streaming client was told how its turn ended.
    let r = stream.await.unwrap();
    assert_eq!(r.status, 200);
    let frames = parse_frames(&r.body);
    assert_eq!(frames.last().unwrap().data.as_deref(), Some("[DONE]"));
    let last = frames[frames.len() - 2].json();
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["hermes"]["partial"], true);
    // The backend recorded the partial answer.
    let session = s.backend.turns()[0].session_id.clone();
    let stored: Vec<String> = s.backend.messages_of(&session).iter().map(|m| m.content.clone()).collect();
    assert_eq!(stored, ["hi", "partial"]);
}
