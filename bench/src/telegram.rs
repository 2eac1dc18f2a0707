//! `herald-bench telegram`: herald's Telegram path end to end, through the fake Bot API
//! (`herald-testkit-telegram`) and the scripted LLM, both on 127.0.0.1.
//!
//! Measured: idle RSS with Telegram connected; round-trip latency of one message at a
//! time (update injected → the bot's reply stored by the fake), median and p90; messages
//! per second with `--messages` spread over `--chats` chats, counting every reply (a lost
//! or duplicated reply shows as a count that is not exactly one per message); RSS after a
//! steady soak of `--soak-seconds`. Every message has its own text, so a reply can be
//! told from another in a log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::procfs;
use crate::targets::{self, Paths, Proc};

const TOKEN: &str = "123456789:TEST-fake-telegram-token";
const FINE: Duration = Duration::from_micros(200);
const COARSE: Duration = Duration::from_millis(20);

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Messages in the throughput phase.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Chats they are spread over.
    #[arg(long, default_value_t = 1_000)]
    chats: usize,
    /// Sequential round trips for the latency figures.
    #[arg(long, default_value_t = 200)]
    sequential: usize,
    /// Seconds of steady traffic (10 messages/s) before the last RSS reading.
    #[arg(long, default_value_t = 60)]
    soak_seconds: u64,
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Directory with herald-testkit-llm and herald-testkit-telegram (default: beside this binary).
    #[arg(long)]
    testkit_dir: Option<PathBuf>,
}

/// One keep-alive connection to the fake's control interface.
struct Control {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Control {
    async fn connect(addr: SocketAddr) -> Result<Control> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Control { addr, sender })
    }

    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.sender.ready().await?;
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(bytes))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }

    async fn send(&mut self, chat: usize, text: &str) -> Result<()> {
        let user = json!({"id": 100_000 + chat as i64, "is_bot": false, "first_name": format!("user{chat}")});
        self.call(Method::POST, "/_control/private_text", Some(json!({"user": user, "text": text}))).await?;
        Ok(())
    }

    async fn bot_messages(&mut self) -> Result<u64> {
        let stats = self.call(Method::GET, "/_control/stats", None).await?;
        stats["bot_messages"].as_u64().context("stats without bot_messages")
    }

    /// Polls until `count` replies exist. `every` is short for latency samples and long
    /// under load, where each poll walks every chat of the fake (and holds its lock).
    async fn wait_for(&mut self, count: u64, within: Duration, every: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while self.bot_messages().await? < count {
            if Instant::now() > deadline {
                bail!("only {} of {count} replies within {within:?}", self.bot_messages().await?);
            }
            tokio::time::sleep(every).await;
        }
        Ok(())
    }
}

fn start_fake(path: &PathBuf) -> Result<Proc> {
    let mut child = Command::new(path)
        .args(["--port", "0", "--rate-max-calls", "0", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .with_context(|| format!("start {}", path.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("unexpected first line from the fake Telegram: {line:?}"))?;
    Ok(Proc::new(child, addr, None))
}

fn median(mut v: Vec<Duration>, q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

pub fn run(options: Options) -> Result<()> {
    let exe_dir = std::env::current_exe()?.parent().context("exe has a directory")?.to_path_buf();
    let kit = options.testkit_dir.clone().unwrap_or_else(|| exe_dir.clone());
    let paths = Paths {
        herald: options.herald.clone().unwrap_or_else(|| exe_dir.join("herald")),
        llm: kit.join("herald-testkit-llm"),
        peers_dir: PathBuf::new(),
    };
    let llm = targets::start_llm(&paths, "ok", 1)?;
    let fake = start_fake(&kit.join("herald-testkit-telegram"))?;
    let home = tempdir()?;
    let log = std::fs::File::create(home.join("gateway.log"))?;
    let child = Command::new(&paths.herald)
        .args(["gateway", "run"])
        .env("HERALD_HOME", &home)
        .env("API_SERVER_ENABLED", "false")
        .env("HERALD_LLM_BASE_URL", format!("http://{}/v1", llm.addr))
        .env("OPENAI_API_KEY", "x")
        .env("HERALD_MODEL", "bench")
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_BASE_URL", format!("http://{}", fake.addr))
        .env("TELEGRAM_ALLOW_ALL_USERS", "true")
        .env("HERALD_STREAMING", "false")
        // A chat's next message can arrive while its previous turn still runs; the
        // "queued" acknowledgement would then be a bot message that is not an answer,
        // and the count below must be answers only.
        .env("HERMES_GATEWAY_BUSY_ACK_ENABLED", "false")
        .env("HERALD_GATEWAY_LOCK_DIR", home.join("locks"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("start herald")?;
    let mut herald = Proc::new(child, fake.addr, Some(home.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let report = rt.block_on(async {
        let mut control = Control::connect(fake.addr).await?;
        // Connected: a first message comes back.
        control.send(0, "warm up").await?;
        control.wait_for(1, Duration::from_secs(30), FINE).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (idle_kib, _) = procfs::tree_rss_kib(herald.pid());

        let mut expected = control.bot_messages().await?;
        let mut samples = Vec::with_capacity(options.sequential);
        for i in 0..options.sequential {
            let started = Instant::now();
            control.send(i % options.chats, &format!("ping {i}")).await?;
            expected += 1;
            control.wait_for(expected, Duration::from_secs(30), FINE).await?;
            samples.push(started.elapsed());
        }

        let started = Instant::now();
        let cpu_before = procfs::tree_cpu_secs(herald.pid());
        for i in 0..options.messages {
            control.send(i % options.chats, &format!("load {i}")).await?;
        }
        expected += options.messages as u64;
        control.wait_for(expected, Duration::from_secs(600), COARSE).await?;
        let elapsed = started.elapsed();
        let cpu = procfs::tree_cpu_secs(herald.pid()) - cpu_before;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let exact = control.bot_messages().await? == expected;
        let (loaded_kib, _) = procfs::tree_rss_kib(herald.pid());

        let soak_start = Instant::now();
        let soak_end = soak_start + Duration::from_secs(options.soak_seconds);
        let mut i = 0;
        // RSS once a minute, so growth shows as a trend rather than as two points.
        let mut rss_samples = Vec::new();
        let mut next_sample = soak_start;
        while Instant::now() < soak_end {
            if Instant::now() >= next_sample {
                let (kib, _) = procfs::tree_rss_kib(herald.pid());
                rss_samples.push(json!([soak_start.elapsed().as_secs(), kib as f64 / 1024.0]));
                next_sample += Duration::from_secs(60);
            }
            control.send(i % options.chats, &format!("soak {i}")).await?;
            expected += 1;
            i += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        control.wait_for(expected, Duration::from_secs(60), COARSE).await?;
        let (soaked_kib, _) = procfs::tree_rss_kib(herald.pid());
        let exact = exact && control.bot_messages().await? == expected;
        anyhow::Ok(json!({
            "idle_rss_mib": idle_kib as f64 / 1024.0,
            "sequential_round_trip_ms": {
                "p50": median(samples.clone(), 0.5).as_secs_f64() * 1e3,
                "p90": median(samples, 0.9).as_secs_f64() * 1e3,
            },
            "throughput": {
                "messages": options.messages,
                "chats": options.chats,
                "seconds": elapsed.as_secs_f64(),
                "messages_per_second": options.messages as f64 / elapsed.as_secs_f64(),
                "gateway_cpu_ms_per_message": cpu * 1e3 / options.messages as f64,
                "one_reply_per_message": exact,
            },
            "rss_after_load_mib": loaded_kib as f64 / 1024.0,
            "soak_seconds": options.soak_seconds,
            "rss_after_soak_mib": soaked_kib as f64 / 1024.0,
            "soak_rss_mib_each_minute": rss_samples,
            "soak_messages": i,
        }))
    })?;
    herald.stop(Duration::from_secs(30));
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("herald-bench-telegram-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
