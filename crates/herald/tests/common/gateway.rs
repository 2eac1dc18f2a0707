//! `herald gateway run` as a test fixture: the real binary on a free port.

use std::time::Duration;

use serde_json::json;

use super::{Daemon, Herald, free_port};

pub const STOP_WITHIN: Duration = Duration::from_secs(30);

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client")
}

pub struct Gateway {
    pub daemon: Daemon,
    pub base: String,
    pub http: reqwest::Client,
}

impl Gateway {
    /// Starts `herald gateway run` on a free port and waits until `/health` answers.
    pub async fn start(h: &mut Herald, extra: &[&str]) -> Gateway {
        let port = free_port();
        h.set("API_SERVER_PORT", &port.to_string());
        let mut args = vec!["gateway", "run"];
        args.extend_from_slice(extra);
        let mut daemon = h.spawn(&args);
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        for _ in 0..300 {
            if daemon.exited() {
                panic!("the gateway exited during startup; stderr:\n{}", daemon.stderr());
            }
            if let Ok(response) = http.get(format!("{base}/health")).send().await
                && response.status() == 200
            {
                return Gateway { daemon, base, http };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway did not answer /health within 30 s; stderr:\n{}", daemon.stderr());
    }

    pub async fn chat(&self, key: &str, text: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .json(&json!({"model": "hermes-agent", "messages": [{"role": "user", "content": text}]}))
            .send()
            .await
            .expect("send the chat completion")
    }

    pub async fn stop(&mut self) -> i32 {
        self.daemon.signal("TERM");
        self.daemon.wait(STOP_WITHIN).await
    }
}
