//! Store benchmark: write throughput under concurrent turns, and search latency over a
//! large transcript corpus. Run with `cargo bench -p herald-store --bench store`.
//!
//! Sizes come from the environment so a quick run is cheap:
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `HERALD_BENCH_TURNS` | 20000 | turns appended in the write phase (0 skips it) |
//! | `HERALD_BENCH_WRITERS` | 64 | concurrent writer tasks in the write phase |
//! | `HERALD_BENCH_MESSAGES` | 1000000 | messages loaded for the search phase (0 skips it) |
//! | `HERALD_BENCH_QUERIES` | 200 | queries per search class |
//! | `HERALD_BENCH_HEAVY_QUERIES` | 50 | queries per worst-case class (very common word, scans) |
//! | `HERALD_BENCH_DIR` | the system temp dir | where the databases are written (removed afterwards) |
//!
//! The corpus is generated from a fixed seed: pseudo-English words drawn from a Zipf
//! distribution, plus marker words (built from letters the vocabulary never uses) that
//! appear at known rates, so each query class has a known number of matches.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::{Message, Usage};
use herald_store::{NewMessage, NewSession, SearchMode, SearchQuery, SqliteStore, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x6865_7261_6c64;
const SESSIONS_FOR_SEARCH: usize = 1_000;
const MESSAGES_PER_LOAD_CALL: usize = 100;
const LOAD_TASKS: usize = 8;
const MARKERS_PER_CLASS: usize = 20;
/// Per message, the chance of carrying one rare marker (spread over the class's words).
const RARE_RATE: f64 = 0.001;
/// Per message, the chance of carrying one medium marker.
const MEDIUM_RATE: f64 = 0.1;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.trim().replace('_', "").parse().unwrap_or_else(|_| {
            eprintln!("{name}={value:?} is not a number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let turns = env_usize("HERALD_BENCH_TURNS", 20_000);
    let writers = env_usize("HERALD_BENCH_WRITERS", 64).max(1);
    let messages = env_usize("HERALD_BENCH_MESSAGES", 1_000_000);
    let queries = env_usize("HERALD_BENCH_QUERIES", 200).max(1);
    let heavy_queries = env_usize("HERALD_BENCH_HEAVY_QUERIES", 50).max(1);

    let base = std::env::var_os("HERALD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("herald-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let cleanup = Cleanup(Some(dir.clone()));

    println!("herald-store benchmark");
    println!("  cpus: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("  database dir: {}", dir.display());
    println!();

    // Other work on the machine skews every figure; the load average says how much.
    if turns > 0 {
        println!("  load average before writes: {}", load_average());
        write_phase(&dir.join("writes.db"), turns, writers).await;
        println!("  load average after writes: {}", load_average());
        println!();
    }
    if messages > 0 {
        println!("  load average before search: {}", load_average());
        search_phase(&dir.join("search.db"), messages, queries, heavy_queries).await;
        println!("  load average after search: {}", load_average());
    }
    drop(cleanup);
}

/// Removes the bench directory at the end, whatever happened.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Text generation
// ---------------------------------------------------------------------------

/// Pseudo-English: words from consonant-vowel syllables (never j, q, x, y or z, which
/// are reserved for markers), picked with Zipf-like frequencies.
struct TextGen {
    rng: StdRng,
    vocabulary: Vec<String>,
    /// Cumulative Zipf weights over `vocabulary`.
    cumulative: Vec<f64>,
    rare: Vec<String>,
    medium: Vec<String>,
    rare_count: usize,
    medium_count: usize,
}

const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "cl", "dr", "fl", "gr", "pl",
    "st", "th", "sh", "ch", "tr", "sp",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"];
const CODAS: &[&str] = &["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "rk"];

impl TextGen {
    fn new(seed: u64) -> TextGen {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut vocabulary = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while vocabulary.len() < 8_000 {
            let syllables = match rng.random_range(0..10) {
                0..=2 => 1,
                3..=7 => 2,
                _ => 3,
            };
            let word: String = (0..syllables)
                .map(|_| {
                    format!(
                        "{}{}{}",
                        ONSETS[rng.random_range(0..ONSETS.len())],
                        VOWELS[rng.random_range(0..VOWELS.len())],
                        CODAS[rng.random_range(0..CODAS.len())]
                    )
                })
                .collect();
            if seen.insert(word.clone()) {
                vocabulary.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=vocabulary.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        let marker =
            |prefix: &str, i: usize| format!("{prefix}{}{}x", ONSETS[i % ONSETS.len()], VOWELS[i % VOWELS.len()]);
        let rare = (0..MARKERS_PER_CLASS).map(|i| marker("zy", i)).collect();
        let medium = (0..MARKERS_PER_CLASS).map(|i| marker("jq", i)).collect();
        TextGen { rng, vocabulary, cumulative, rare, medium, rare_count: 0, medium_count: 0 }
    }

    fn word(&mut self) -> &str {
        let total = self.cumulative[self.cumulative.len() - 1];
        let target = self.rng.random_range(0.0..total);
        let index = self.cumulative.partition_point(|&c| c < target).min(self.vocabulary.len() - 1);
        &self.vocabulary[index]
    }

    /// About `chars` characters of text; with `markers`, sometimes one marker word.
    fn text(&mut self, chars: usize, markers: bool) -> String {
        let mut text = String::with_capacity(chars + 16);
        while text.len() < chars {
            if !text.is_empty() {
                text.push(' ');
            }
            let word = self.word().to_owned();
            text.push_str(&word);
        }
        if markers {
            let roll: f64 = self.rng.random();
            let marker = if roll < RARE_RATE {
                self.rare_count += 1;
                Some(self.rare[self.rng.random_range(0..self.rare.len())].clone())
            } else if roll < RARE_RATE + MEDIUM_RATE {
                self.medium_count += 1;
                Some(self.medium[self.rng.random_range(0..self.medium.len())].clone())
            } else {
                None
            };
            if let Some(marker) = marker {
                // Somewhere in the middle, as a word of its own.
                let at = text[..text.len() / 2].rfind(' ').map_or(0, |i| i + 1);
                text.insert_str(at, &format!("{marker} "));
            }
        }
        text
    }
}

// ---------------------------------------------------------------------------
// Phase 1: concurrent turns
// ---------------------------------------------------------------------------

async fn write_phase(path: &Path, turns: usize, writers: usize) {
    let store = Arc::new(SqliteStore::open(path).expect("open write db"));
    let mut sessions = Vec::new();
    for i in 0..writers {
        let new = NewSession {
            key: Some(format!("agent:main:bench:dm:{i}")),
            platform: "bench".into(),
            ..NewSession::default()
        };
        sessions.push(store.create_session(new).await.expect("session").id);
    }

    // Pre-generate the text so the timed loop measures the store only.
    let per_task = turns.div_ceil(writers);
    let mut generator = TextGen::new(SEED);
    let workloads: Vec<Vec<(String, String)>> = (0..writers)
        .map(|_| (0..per_task).map(|_| (generator.text(200, false), generator.text(200, false))).collect())
        .collect();
    let before = store.writer_stats();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (session, workload) in sessions.into_iter().zip(workloads) {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(workload.len());
            for (question, answer) in workload {
                let turn: Vec<NewMessage> = vec![Message::user(question).into(), Message::assistant(answer).into()];
                let usage = Usage { input_tokens: 1_200, output_tokens: 60, ..Usage::default() };
                let call = Instant::now();
                store.append_turn(&session, turn, usage, None).await.expect("append");
                latencies.push(call.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer task"));
    }
    let elapsed = started.elapsed();
    let after = store.writer_stats();

    let done = latencies.len();
    let batches = after.batches - before.batches;
    println!("== writes: {done} turns (2 messages each, ~200 chars per message), {writers} concurrent tasks");
    println!("  wall time: {:.2} s", elapsed.as_secs_f64());
    println!(
        "  throughput: {:.0} turns/s ({:.0} messages/s)",
        done as f64 / elapsed.as_secs_f64(),
        2.0 * done as f64 / elapsed.as_secs_f64()
    );
    print_latencies("append_turn latency (call to resolved future)", &mut latencies);
    println!(
        "  commits: {batches}, mean turns per commit: {:.1}",
        (after.writes - before.writes) as f64 / batches.max(1) as f64
    );
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await;
    }
}

// ---------------------------------------------------------------------------
// Phase 2: search over a large corpus
// ---------------------------------------------------------------------------

async fn search_phase(path: &Path, messages: usize, queries: usize, heavy_queries: usize) {
    let store = Arc::new(SqliteStore::open(path).expect("open search db"));
    let mut sessions = Vec::new();
    for i in 0..SESSIONS_FOR_SEARCH {
        let new = NewSession {
            key: Some(format!("agent:main:bench:dm:{i}")),
            platform: "bench".into(),
            title: Some(format!("bench session {i}")),
            ..NewSession::default()
        };
        sessions.push(store.create_session(new).await.expect("session").id);
    }

    // Generated up front (seeded, so every run loads the same corpus); loading is timed.
    let mut generator = TextGen::new(SEED ^ 1);
    let calls = messages.div_ceil(MESSAGES_PER_LOAD_CALL);
    let mut batches: Vec<(String, Vec<NewMessage>)> = Vec::with_capacity(calls);
    let mut remaining = messages;
    for call in 0..calls {
        let n = remaining.min(MESSAGES_PER_LOAD_CALL);
        remaining -= n;
        let turn = (0..n)
            .map(|i| {
                let chars = 120 + (i * 37 + call) % 160;
                let text = generator.text(chars, true);
                if i % 2 == 0 { Message::user(text).into() } else { Message::assistant(text).into() }
            })
            .collect();
        batches.push((sessions[call % sessions.len()].clone(), turn));
    }
    let (rare_total, medium_total) = (generator.rare_count, generator.medium_count);

    let started = Instant::now();
    let chunk = batches.len().div_ceil(LOAD_TASKS);
    let mut tasks = Vec::new();
    let mut batches = batches.into_iter();
    for _ in 0..LOAD_TASKS {
        let mine: Vec<_> = batches.by_ref().take(chunk).collect();
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for (session, turn) in mine {
                store.append_turn(&session, turn, Usage::default(), None).await.expect("load");
            }
        }));
    }
    for task in tasks {
        task.await.expect("load task");
    }
    let load = started.elapsed();
    let size = database_size(path);
    println!(
        "== search corpus: {messages} messages in {SESSIONS_FOR_SEARCH} sessions, loaded through append_turn \
         ({MESSAGES_PER_LOAD_CALL} messages per call, {LOAD_TASKS} concurrent tasks)"
    );
    println!("  load time: {:.1} s ({:.0} messages/s)", load.as_secs_f64(), messages as f64 / load.as_secs_f64());
    println!("  database size (main file + WAL): {:.0} MiB", size as f64 / (1024.0 * 1024.0));
    println!(
        "  markers: {} messages carry one of {MARKERS_PER_CLASS} rare words (~{:.0} each), {} carry one of \
         {MARKERS_PER_CLASS} medium words (~{:.0} each)",
        rare_total,
        rare_total as f64 / MARKERS_PER_CLASS as f64,
        medium_total,
        medium_total as f64 / MARKERS_PER_CLASS as f64
    );

    let generator = TextGen::new(SEED ^ 1);
    let rare: Vec<String> = generator.rare.clone();
    let medium: Vec<String> = generator.medium.clone();
    // Interior substrings of the markers: no whole word matches them.
    let inner = |words: &[String]| -> Vec<String> { words.iter().map(|w| w[1..w.len() - 1].to_owned()).collect() };
    let common: Vec<String> = generator.vocabulary[..MARKERS_PER_CLASS].to_vec();
    let common_pairs: Vec<String> =
        generator.vocabulary[..MARKERS_PER_CLASS].iter().map(|w| w[..2].to_owned()).collect();
    // `z` only ever appears as `zy` (rare markers), so `za`..`zt` occur nowhere.
    let absent_pairs: Vec<String> = (0..MARKERS_PER_CLASS).map(|i| format!("z{}", (b'a' + i as u8) as char)).collect();

    let classes: Vec<(&str, SearchMode, Vec<String>, usize)> = vec![
        ("word, rare (~50 matches)", SearchMode::Words, rare.clone(), queries),
        ("word, medium (~5,000 matches)", SearchMode::Words, medium.clone(), queries),
        ("substring >=3 chars, rare (trigram)", SearchMode::Substring, inner(&rare), queries),
        ("substring >=3 chars, medium (trigram)", SearchMode::Substring, inner(&medium), queries),
        ("auto, rare", SearchMode::Auto, rare, queries),
        ("word, very common (top-20 vocabulary)", SearchMode::Words, common, heavy_queries),
        ("substring 2 chars, common (scan)", SearchMode::Substring, common_pairs, heavy_queries),
        ("substring 2 chars, absent (full scan)", SearchMode::Substring, absent_pairs, heavy_queries),
    ];
    println!("  limit 20 per query, warm cache, queries issued one at a time");
    for (label, mode, texts, count) in classes {
        let mut latencies = Vec::with_capacity(count);
        let mut hits = 0;
        for i in 0..count {
            let query = SearchQuery { text: texts[i % texts.len()].clone(), mode, limit: 20, session_id: None };
            let started = Instant::now();
            hits += store.search(query).await.expect("search").len();
            latencies.push(started.elapsed());
        }
        print_latencies(
            &format!("{label}: {count} queries, mean {:.1} hits", hits as f64 / count as f64),
            &mut latencies,
        );
    }
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await;
    }
}

/// The 1, 5 and 15 minute load averages, where the system reports them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn database_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_latencies(label: &str, latencies: &mut [Duration]) {
    if latencies.is_empty() {
        println!("  {label}: no samples");
        return;
    }
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.99)),
        ms(latencies[latencies.len() - 1])
    );
}
