//! herald-bench: herald's OpenAI-compatible API server side by side with Hermes and
//! OpenClaw, all against the same scripted LLM on 127.0.0.1, plus the same load sent
//! straight to the LLM (the ceiling any gateway can approach on this machine).
//!
//! `herald-bench all` runs everything; see docs/benchmarks.md for what each number means.

mod client;
mod load;
mod procfs;
mod report;
mod run;
mod targets;
mod telegram;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::targets::Kind;

#[derive(Parser)]
#[command(name = "herald-bench", about = "Benchmark herald's API server against Hermes and OpenClaw")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run every phase for the LLM directly and for each gateway, then print the table.
    All(run::Options),
    /// Telegram end to end through the fake Bot API: latency, messages/s across many
    /// chats, RSS idle, after load and after a soak. Prints JSON.
    Telegram(telegram::Options),
    /// Print the table again from a results file written by `all`.
    Report {
        /// A `results.json` written by `all`.
        file: PathBuf,
    },
}

/// The process group of the copy running inside the namespace (0 if none), which a signal
/// to this process is passed on to.
static INNER_GROUP: AtomicU32 = AtomicU32::new(0);

/// Set in the re-executed process that already runs inside the loopback-only namespace.
const NETNS_ENV: &str = "HERALD_BENCH_IN_NETNS";

fn main() -> Result<()> {
    let cli = Cli::parse();
    stop_children_on_signal();
    match cli.command {
        Command::All(options) => {
            if !options.no_netns && std::env::var_os(NETNS_ENV).is_none() {
                if let Some(code) = reexec_in_netns()? {
                    std::process::exit(code);
                }
                eprintln!("herald-bench: `unshare -n` is not permitted here; running in the host network namespace");
            }
            let netns = std::env::var_os(NETNS_ENV).is_some();
            run::all(options, netns)
        }
        Command::Telegram(options) => {
            if std::env::var_os(NETNS_ENV).is_none()
                && let Some(code) = reexec_in_netns()?
            {
                std::process::exit(code);
            }
            telegram::run(options)
        }
        Command::Report { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            let results: report::Results =
                serde_json::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
            print!("{}", report::markdown(&results));
            Ok(())
        }
    }
}

/// Runs this same command again inside a new network namespace that has only the loopback
/// interface, so no gateway can reach the network whatever its configuration says. The LLM,
/// the gateways and the load generator all live inside it. `None` if namespaces are not
/// permitted (for example in an unprivileged container).
fn reexec_in_netns() -> Result<Option<i32>> {
    let probe = std::process::Command::new("unshare")
        .args(["-n", "--", "ip", "link", "set", "lo", "up"])
        .stderr(std::process::Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Ok(None);
    }
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new("unshare")
        .args(["-n", "--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(NETNS_ENV, "1")
        .process_group(0)
        .spawn()
        .context("run unshare")?;
    INNER_GROUP.store(child.id(), Ordering::Relaxed);
    let status = child.wait()?;
    Ok(Some(status.code().unwrap_or(1)))
}

/// On SIGINT or SIGTERM, stops the LLM and any gateway (each runs in its own process group)
/// before exiting, so an interrupted run leaves nothing behind.
fn stop_children_on_signal() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            eprintln!("herald-bench: interrupted; stopping the processes it started");
            let inner = INNER_GROUP.load(Ordering::Relaxed);
            if inner != 0 {
                // The copy in the namespace stops its own children, then exits.
                targets::signal_group(inner, "TERM");
                std::thread::sleep(Duration::from_secs(3));
                targets::signal_group(inner, "KILL");
            }
            targets::kill_all_groups();
            std::process::exit(130);
        });
    });
}

/// Sleeps on the calling thread (the harness's orchestration is synchronous; only the load
/// phases run on a runtime).
fn pause(d: Duration) {
    std::thread::sleep(d);
}

fn kinds_label(kinds: &[Kind]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}
