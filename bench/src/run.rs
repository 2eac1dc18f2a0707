//! One full benchmark: the LLM-direct ceiling and every gateway, repeated, interleaved
//! so that a change in background load touches every target alike.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client::Endpoint;
use crate::load::{Limit, PhaseResult, run_phase};
use crate::report::{Machine, Results, RunResult};
use crate::targets::{self, Kind, Paths, Proc};
use crate::{kinds_label, pause, procfs, report};

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Gateways to run (comma-separated). The LLM-direct ceiling always runs.
    #[arg(long, value_delimiter = ',', default_values = ["herald", "hermes", "openclaw"])]
    targets: Vec<Kind>,
    /// Full runs per target; the table shows the median of each figure.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Extra cold starts per target (startup time only), on top of one per repeat.
    #[arg(long, default_value_t = 4)]
    extra_starts: usize,
    /// Length of each concurrent phase, and the cap on each sequential phase, in seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Requests in the sequential phase (fewer if `--duration` runs out first).
    #[arg(long, default_value_t = 2000)]
    seq_requests: usize,
    /// Requests in the streaming phase (fewer if `--duration` runs out first).
    #[arg(long, default_value_t = 1000)]
    stream_requests: usize,
    /// Seconds between the first 200 and the idle RSS reading.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Seconds after the 32-client phase before the second RSS reading.
    #[arg(long, default_value_t = 10)]
    after: u64,
    /// The scripted LLM's answer to every request.
    #[arg(
        long,
        default_value = "Sure. Here is a short scripted answer from the benchmark model, long enough to stream in a few chunks."
    )]
    reply: String,
    /// Chunks a streamed answer is split into.
    #[arg(long, default_value_t = 8)]
    chunks: usize,
    /// Worker threads of the load generator's runtime (1 keeps its footprint small).
    #[arg(long, default_value_t = 1)]
    loadgen_threads: usize,
    /// The herald binary (default: beside this one).
    #[arg(long)]
    herald: Option<PathBuf>,
    /// The scripted LLM binary (default: beside this one).
    #[arg(long)]
    llm: Option<PathBuf>,
    /// Where the peers were installed by bench/peers/install-*.sh.
    #[arg(long, env = "HERALD_BENCH_PEERS")]
    peers_dir: Option<PathBuf>,
    /// Directory for results.json, results.md, gateway logs and homes (default: bench/results/<time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not isolate everything in a loopback-only network namespace.
    #[arg(long)]
    pub no_netns: bool,
    /// After herald's first run, profile it with `perf record` (DWARF call graphs) during one
    /// more load phase; writes perf-herald.data to the output directory. Not timed.
    #[arg(long)]
    profile: bool,
    /// Clients of the profiled phase.
    #[arg(long, default_value_t = 32)]
    profile_clients: usize,
}

pub fn all(options: Options, netns: bool) -> Result<()> {
    let exe_dir = std::env::current_exe()?.parent().context("exe has a directory")?.to_path_buf();
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    let paths = Paths {
        herald: options.herald.clone().unwrap_or_else(|| exe_dir.join("herald")),
        llm: options.llm.clone().unwrap_or_else(|| exe_dir.join("herald-testkit-llm")),
        peers_dir: options.peers_dir.clone().unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map_or_else(|| home.join(".cache"), PathBuf::from)
                .join("herald/bench-peers")
        }),
    };
    let out = match &options.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results").join(timestamp()),
    };
    std::fs::create_dir_all(&out)?;
    let work = out.join("homes");
    std::fs::create_dir_all(&work)?;

    // Run a copy of herald: the team rebuilds the release binary while a run is under way, and
    // a run must not mix builds. `cp -p` keeps the build time that the report shows.
    let mut paths = paths;
    if paths.herald.exists() {
        let copy = out.join("herald");
        let status = Command::new("cp").arg("-p").arg(&paths.herald).arg(&copy).status()?;
        if !status.success() {
            bail!("cannot copy {} to {}", paths.herald.display(), copy.display());
        }
        paths.herald = copy;
    }

    let mut kinds = Vec::new();
    for kind in &options.targets {
        if targets::installed(*kind, &paths) {
            kinds.push(*kind);
        } else {
            eprintln!("skipping {}: not installed (see bench/peers/)", kind.name());
        }
    }
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "herald-bench: targets {} + LLM direct; {} repeat(s); output in {}",
        kinds_label(&kinds),
        options.repeats,
        out.display()
    );

    let llm = targets::start_llm(&paths, &options.reply, options.chunks)?;
    let mut results = Results {
        machine: Machine::read(netns, &paths),
        options: format!("{options:?}"),
        load_start: procfs::loadavg(),
        load_end: String::new(),
        runs: Vec::new(),
        startups: Vec::new(),
        failures: Vec::new(),
    };
    let rt = if options.loadgen_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(options.loadgen_threads).enable_all().build()?
    };

    for repeat in 0..options.repeats {
        let direct = Endpoint {
            addr: llm.addr,
            key: None,
            model: "bench".into(),
            expect: options.reply.clone(),
            timeout: Duration::from_secs(30),
        };
        eprintln!("[{repeat}] LLM direct");
        wait_quiet();
        let mut run = measure(&rt, &options, &direct, llm.pid(), "llm", repeat)?;
        run.rss_after_mib = None;
        results.runs.push(run);
        for &kind in &kinds {
            eprintln!("[{repeat}] {}", kind.name());
            match run_gateway(&rt, &options, &paths, &llm, kind, repeat, &work) {
                Ok(run) => results.runs.push(run),
                Err(err) => {
                    eprintln!("  {} failed: {err:#}", kind.name());
                    results.failures.push(format!("{} repeat {repeat}: {err:#}", kind.name()));
                }
            }
            write_results(&out, &results)?;
        }
    }
    for &kind in &kinds {
        for i in 0..options.extra_starts {
            wait_quiet();
            match targets::start_gateway(kind, &paths, llm.addr, &work, &format!("start{i}")) {
                Ok(mut started) => {
                    results.startups.push((kind.name().into(), ms(started.startup)));
                    started.proc.stop(Duration::from_secs(10));
                    remove_home(&started.proc);
                }
                Err(err) => results.failures.push(format!("{} extra start {i}: {err:#}", kind.name())),
            }
        }
    }
    results.load_end = procfs::loadavg();
    drop(llm);
    write_results(&out, &results)?;
    print!("{}", report::markdown(&results));
    eprintln!("results: {}", out.join("results.json").display());
    Ok(())
}

fn run_gateway(
    rt: &tokio::runtime::Runtime,
    options: &Options,
    paths: &Paths,
    llm: &Proc,
    kind: Kind,
    repeat: usize,
    work: &std::path::Path,
) -> Result<RunResult> {
    wait_quiet();
    let started = targets::start_gateway(kind, paths, llm.addr, work, &format!("r{repeat}"))?;
    let mut proc = started.proc;
    eprintln!("  first 200 after {:.1} ms", ms(started.startup));
    pause(Duration::from_secs(options.settle));
    let (idle_kib, idle_procs) = procfs::tree_rss_kib(proc.pid());
    let endpoint = Endpoint {
        addr: proc.addr,
        key: Some(targets::API_KEY.into()),
        model: kind.model().into(),
        expect: options.reply.clone(),
        // A slow gateway at 32 clients queues every request behind 31 others.
        timeout: Duration::from_secs(300),
    };
    let mut run = measure(rt, options, &endpoint, proc.pid(), kind.name(), repeat)?;
    run.startup_ms = Some(ms(started.startup));
    run.idle_rss_mib = Some(idle_kib as f64 / 1024.0);
    run.idle_processes = Some(idle_procs);
    if kind == Kind::Herald {
        run.persisted_messages = count_messages(&proc);
        if options.profile && repeat == 0 {
            let out = work.parent().unwrap_or(work).join("perf-herald.data");
            profile(rt, options, &endpoint, proc.pid(), &out)?;
        }
    }
    proc.stop(Duration::from_secs(10));
    remove_home(&proc);
    Ok(run)
}

/// The phases every target goes through, the LLM included.
fn measure(
    rt: &tokio::runtime::Runtime,
    options: &Options,
    endpoint: &Endpoint,
    pid: u32,
    name: &str,
    repeat: usize,
) -> Result<RunResult> {
    let duration = Duration::from_secs(options.duration);
    let load_start = procfs::loadavg();
    let rustc_start = procfs::rustc_count();
    let tag = format!("{name} r{repeat}");
    // Warm-up: connections, lazy initialisation, caches. Not reported.
    let warm = rt.block_on(run_phase(
        endpoint,
        pid,
        2,
        false,
        Limit { requests: Some(20), duration: Duration::from_secs(30) },
        &format!("{tag} warm"),
    ));
    if warm.ok == 0 {
        bail!("no successful warm-up request: {:?}", warm.error_samples);
    }
    let phase = |clients: usize, stream: bool, requests: Option<usize>, label: &str| -> PhaseResult {
        let result = rt.block_on(run_phase(
            endpoint,
            pid,
            clients,
            stream,
            Limit { requests, duration },
            &format!("{tag} {label}"),
        ));
        eprintln!(
            "  {label:>6}: {} ok, {} errors, {:.1} turns/s, p50 {:.2} ms, p99 {:.2} ms, cpu {:.3} ms/turn, loadgen {:.2} cores",
            result.ok,
            result.errors,
            result.turns_per_sec,
            result.latency_ms.p50,
            result.latency_ms.p99,
            result.target_cpu_ms_per_turn,
            result.loadgen_cores
        );
        for sample in &result.error_samples {
            eprintln!("          error: {sample}");
        }
        result
    };
    let sequential = phase(1, false, Some(options.seq_requests), "seq");
    let streaming = phase(1, true, Some(options.stream_requests), "stream");
    let c8 = phase(8, false, None, "c8");
    let c32 = phase(32, false, None, "c32");
    pause(Duration::from_secs(options.after));
    let (after_kib, _) = procfs::tree_rss_kib(pid);
    Ok(RunResult {
        target: name.to_string(),
        repeat,
        load_start,
        load_end: procfs::loadavg(),
        rustc_running_at_start: rustc_start,
        startup_ms: None,
        idle_rss_mib: None,
        idle_processes: None,
        sequential,
        streaming,
        c8,
        c32,
        rss_after_mib: Some(after_kib as f64 / 1024.0),
        persisted_messages: None,
        warmup_turns: warm.ok,
        warmup_errors: warm.errors,
    })
}

/// One more load phase with `perf record` attached to the gateway.
fn profile(
    rt: &tokio::runtime::Runtime,
    options: &Options,
    endpoint: &Endpoint,
    pid: u32,
    out: &std::path::Path,
) -> Result<()> {
    let mut perf = Command::new("perf")
        .args(["record", "-F", "249", "-g", "--call-graph", "dwarf,16384", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("start perf record (Debian: apt-get install linux-perf)")?;
    pause(Duration::from_millis(500));
    let threads_before = procfs::threads_cpu_secs(pid);
    let limit = Limit { requests: None, duration: Duration::from_secs(options.duration.min(10)) };
    let result = rt.block_on(run_phase(endpoint, pid, options.profile_clients, false, limit, "herald profile"));
    let threads_after = procfs::threads_cpu_secs(pid);
    let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
    perf.wait()?;
    eprintln!("  profile: {} turns under perf; `perf report -i {}`", result.ok, out.display());
    // Which threads the CPU went to (perf slows the target, so only the shares matter).
    let mut by_thread: Vec<(String, f64)> = threads_after
        .into_iter()
        .map(|(name, after)| {
            let before = threads_before.get(&name).copied().unwrap_or(0.0);
            (name, after - before)
        })
        .filter(|(_, secs)| *secs > 0.0)
        .collect();
    by_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = by_thread.iter().map(|(_, s)| s).sum();
    for (name, secs) in by_thread {
        eprintln!("    thread {name:<24} {secs:6.2} s CPU ({:4.1}%)", 100.0 * secs / total.max(f64::EPSILON));
    }
    Ok(())
}

/// Waits (up to two minutes) until no rustc runs and the 1-minute load is below 1.5, so a
/// phase does not start in the middle of someone else's build. Says so when it gives up.
fn wait_quiet() {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rustc = procfs::rustc_count();
        let load1: f64 = procfs::loadavg().split(' ').next().and_then(|l| l.parse().ok()).unwrap_or(0.0);
        if rustc == 0 && load1 < 1.5 {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("  machine still busy (rustc: {rustc}, load {load1}); measuring anyway");
            return;
        }
        pause(Duration::from_secs(2));
    }
}

/// Rows in herald's `messages` table (user + assistant per turn), read with the sqlite3 CLI
/// if it is installed. Proves every answered turn was persisted.
fn count_messages(proc: &Proc) -> Option<u64> {
    let db = proc.home.as_ref()?.join("herald.db");
    let output = Command::new("sqlite3").arg(&db).arg("SELECT count(*) FROM messages").output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

fn remove_home(proc: &Proc) {
    if let Some(home) = &proc.home {
        let _ = std::fs::remove_dir_all(home);
    }
}

fn write_results(out: &std::path::Path, results: &Results) -> Result<()> {
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(results)?)?;
    std::fs::write(out.join("results.md"), report::markdown(results))?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("run-{secs}")
}
