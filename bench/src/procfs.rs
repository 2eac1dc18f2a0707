//! CPU time and resident memory of a process tree, read from `/proc`.
//!
//! A gateway may spawn helpers (OpenClaw does), so every figure is summed over the
//! root process and all its live descendants. CPU time also counts children that
//! were already reaped (`cutime`/`cstime`), so a helper that exits mid-phase is not lost.

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second for `/proc/<pid>/stat` times. Linux has reported 100 on
/// every mainstream architecture for decades (`getconf CLK_TCK`).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One process's entry in `/proc/<pid>/stat`.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    cpu_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let after_name = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_ascii_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let ppid = fields.get(1)?.parse().ok()?;
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Some(Stat { ppid, cpu_ticks: tick(11) + tick(12) + tick(13) + tick(14) })
}

/// VmRSS of one process in KiB (0 for kernel threads or a process that just exited).
fn read_rss_kib(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The root and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(stat) = read_stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Total CPU seconds (user + system, including reaped children) of a process tree.
pub fn tree_cpu_secs(root: u32) -> f64 {
    let ticks: u64 = tree(root).into_iter().filter_map(read_stat).map(|s| s.cpu_ticks).sum();
    ticks as f64 / CLOCK_TICKS_PER_SEC
}

/// Summed VmRSS of a process tree, in KiB, and the number of processes in it.
pub fn tree_rss_kib(root: u32) -> (u64, usize) {
    let pids = tree(root);
    let n = pids.len();
    (pids.into_iter().map(read_rss_kib).sum(), n)
}

/// CPU seconds (user + system) used so far by this process, all threads.
pub fn self_cpu_secs() -> f64 {
    read_stat(std::process::id()).map_or(0.0, |s| s.cpu_ticks as f64 / CLOCK_TICKS_PER_SEC)
}

/// The machine's 1/5/15-minute load averages, as written in `/proc/loadavg`.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_ascii_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Number of running `rustc` processes (other builds on the machine spoil a measurement).
pub fn rustc_count() -> usize {
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "rustc"))
        .count()
}

/// CPU seconds per thread name (`comm`) of one process, summed over threads of the same name
/// (tokio's workers all share one name). Used to see which thread a profile should look at.
pub fn threads_cpu_secs(pid: u32) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for entry in entries.flatten() {
        let Ok(comm) = fs::read_to_string(entry.path().join("comm")) else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 2..].split_ascii_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(comm.trim().to_string()).or_default() += (tick(11) + tick(12)) as f64 / CLOCK_TICKS_PER_SEC;
    }
    out
}
