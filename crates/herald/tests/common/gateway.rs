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
    /// The home and environment it runs with, for `herald gateway stop`.
    home: std::path::PathBuf,
    env: Vec<(String, String)>,
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
                return Gateway { daemon, base, http, home: h.path().to_path_buf(), env: h.env.clone() };
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

    /// A planned stop with `herald gateway stop` (SIGTERM after a planned-stop marker);
    /// the gateway's exit code.
    pub async fn stop(&mut self) -> i32 {
        let stop = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["gateway", "stop"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("HERALD_HOME", &self.home)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("run herald gateway stop");
        assert!(stop.status.success(), "herald gateway stop failed: {}", String::from_utf8_lossy(&stop.stderr));
        self.daemon.wait(STOP_WITHIN).await
    }
}
