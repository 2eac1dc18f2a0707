//! The load phases: sequential, streaming and concurrent chat completions, each
//! with the target's CPU time over the phase and, optionally, its peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::{Conn, Endpoint, Failure};
use crate::procfs;

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        // Nearest-rank percentile: the smallest sample with at least q of all samples at or below it.
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            ms(samples[rank - 1])
        };
        let sum: Duration = samples.iter().sum();
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: ms(samples[samples.len() - 1]),
            mean: ms(sum) / samples.len() as f64,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The outcome of one phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PhaseResult {
    pub clients: usize,
    pub ok: usize,
    pub errors: usize,
    /// The first few distinct failures, for the report.
    pub error_samples: Vec<String>,
    /// Wall time from the first request to the last answer, in seconds.
    pub wall_secs: f64,
    /// Successful turns per second of wall time.
    pub turns_per_sec: f64,
    /// Request to full answer.
    pub latency_ms: Percentiles,
    /// Request to the first body bytes (only meaningful for streaming).
    pub first_byte_ms: Percentiles,
    /// Streaming: request to the first event with answer text.
    pub first_token_ms: Percentiles,
    /// CPU seconds of the target's process tree over the phase, per successful turn, in ms.
    pub target_cpu_ms_per_turn: f64,
    /// Mean cores the target used over the phase.
    pub target_cores: f64,
    /// Mean cores the load generator itself used (if close to 1 with one thread, it is the bottleneck).
    pub loadgen_cores: f64,
    /// Highest summed RSS of the target's tree seen during the phase, in MiB (sampled every 100 ms).
    pub peak_rss_mib: f64,
    /// Mean cores used per thread name of the target's root process, busiest first (shows
    /// a serial bottleneck such as a single writer thread).
    pub threads: Vec<(String, f64)>,
}

/// What ends a phase: whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub requests: Option<usize>,
    pub duration: Duration,
}

/// Runs `clients` simulated users, each on its own keep-alive connection, sending one
/// request after another with a fresh message each, until the limit. In-flight requests
/// are allowed to finish (and counted), so a slow target is not credited with
/// abandoned work that it keeps doing in the background.
pub async fn run_phase(
    endpoint: &Endpoint,
    target_pid: u32,
    clients: usize,
    stream: bool,
    limit: Limit,
    tag: &str,
) -> PhaseResult {
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(0));

    // A plain thread, not a task: a /proc scan takes a fraction of a millisecond, and on
    // the load generator's runtime that would show up as latency of the requests behind it.
    let sampler = {
        let stop = stop.clone();
        let peak = peak_rss.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (kib, _) = procfs::tree_rss_kib(target_pid);
                peak.fetch_max(kib, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let threads_before = procfs::threads_cpu_secs(target_pid);
    let cpu_before = procfs::tree_cpu_secs(target_pid);
    let self_before = procfs::self_cpu_secs();
    let start = Instant::now();
    let deadline = start + limit.duration;

    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let endpoint = endpoint.clone();
        let issued = issued.clone();
        let tag = format!("{tag} c{client}");
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(endpoint);
            let mut timings = Vec::new();
            let mut failures = Vec::new();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                if let Some(max) = limit.requests
                    && issued.fetch_add(1, Ordering::Relaxed) >= max
                {
                    break;
                }
                match conn.chat(stream, &tag).await {
                    Ok(timing) => timings.push(timing),
                    Err(failure) => {
                        failures.push(failure);
                        // Do not spin on a target that refuses everything.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (timings, failures)
        }));
    }

    let mut timings = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    for task in tasks {
        let (t, f) = task.await.expect("a client task does not panic");
        timings.extend(t);
        failures.extend(f);
    }
    let wall = start.elapsed();
    let cpu = procfs::tree_cpu_secs(target_pid) - cpu_before;
    let self_cpu = procfs::self_cpu_secs() - self_before;
    let wall_secs = wall.as_secs_f64();
    let mut threads: Vec<(String, f64)> = procfs::threads_cpu_secs(target_pid)
        .into_iter()
        .map(|(name, after)| {
            let before = threads_before.get(&name).copied().unwrap_or(0.0);
            (name, (after - before) / wall_secs)
        })
        .filter(|(_, cores)| *cores >= 0.005)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    threads.truncate(6);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let (last_rss, _) = procfs::tree_rss_kib(target_pid);
    peak_rss.fetch_max(last_rss, Ordering::Relaxed);

    let mut error_samples: Vec<String> = Vec::new();
    for failure in &failures {
        let text = failure.to_string();
        if error_samples.len() < 5 && !error_samples.contains(&text) {
            error_samples.push(text);
        }
    }
    let ok = timings.len();
    let mut totals: Vec<Duration> = timings.iter().map(|t| t.total).collect();
    let mut firsts: Vec<Duration> = timings.iter().map(|t| t.first_body).collect();
    let mut tokens: Vec<Duration> = timings.iter().filter_map(|t| t.first_token).collect();
    PhaseResult {
        clients,
        ok,
        errors: failures.len(),
        error_samples,
        wall_secs,
        turns_per_sec: ok as f64 / wall_secs,
        latency_ms: Percentiles::of(&mut totals),
        first_byte_ms: if stream { Percentiles::of(&mut firsts) } else { Percentiles::default() },
        first_token_ms: Percentiles::of(&mut tokens),
        target_cpu_ms_per_turn: if ok > 0 { cpu * 1000.0 / ok as f64 } else { 0.0 },
        target_cores: cpu / wall_secs,
        loadgen_cores: self_cpu / wall_secs,
        peak_rss_mib: peak_rss.load(Ordering::Relaxed) as f64 / 1024.0,
        threads,
    }
}
