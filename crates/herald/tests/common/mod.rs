//! Runs the real `herald` binary in a throwaway home directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_testkit::ScriptedLlm;

pub mod gateway;

pub struct Herald {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Herald {
    /// A home directory with no configuration and no provider.
    pub fn bare() -> Herald {
        Herald { home: tempfile::tempdir().expect("tempdir"), env: Vec::new() }
    }

    /// Pointed at the scripted LLM over the OpenAI wire format.
    pub fn openai(llm: &ScriptedLlm) -> Herald {
        let mut h = Herald::bare();
        h.set("HERALD_LLM_BASE_URL", &llm.openai_base_url());
        h.set("OPENAI_API_KEY", "sk-test-key-0123456789");
        h.set("HERALD_MODEL", "test-model");
        h
    }

    /// Pointed at the scripted LLM over the Anthropic wire format.
    pub fn anthropic(llm: &ScriptedLlm) -> Herald {
        let mut h = Herald::bare();
        h.set("HERALD_PROVIDER", "anthropic");
        h.set("HERALD_LLM_BASE_URL", &llm.anthropic_base_url());
        h.set("ANTHROPIC_API_KEY", "sk-ant-test-0123456789");
        h.set("HERALD_MODEL", "claude-test");
        h
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.to_string(), v.to_string()));
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    pub fn db(&self) -> PathBuf {
        self.home.path().join("herald.db")
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None).await
    }

    /// The `herald` command in this home, with a clean environment.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("HERALD_HOME", self.home.path())
            .env("TZ", "UTC")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn herald");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        let out: Output = tokio::time::timeout(std::time::Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("herald finished within two minutes")
            .expect("wait for herald");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts a long-running `herald` (the gateway) in the background; its stderr is
    /// collected as it comes. The process is killed if the handle is dropped.
    pub fn spawn(&self, args: &[&str]) -> Daemon {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = self.command(args);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn herald");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        });
        Daemon { child, stderr }
    }

    /// The id of the only (or first listed) session.
    pub async fn latest_session_id(&self) -> String {
        let list = self.run(&["sessions", "list"]).await;
        assert_eq!(list.code, 0, "{}", list.stderr);
        list.stdout.lines().nth(1).and_then(|l| l.split_whitespace().next()).expect("a session row").to_string()
    }
}

/// A `herald` process running in the background.
pub struct Daemon {
    pub child: tokio::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Sends a signal (`TERM`, `INT`, ...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the exit code, at most `within`.
    pub async fn wait(&mut self, within: Duration) -> i32 {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("herald did not exit within {within:?}; stderr:\n{}", self.stderr()))
            .expect("wait for herald");
        // Give the stderr reader a moment to take the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
        status.code().unwrap_or(-1)
    }

    /// Whether the process has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
