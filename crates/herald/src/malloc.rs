//! Tunes glibc's allocator for a process whose store writer frees memory all the time.
//!
//! SQLite allocates a small statement journal for every insert inside a transaction
//! and frees it when the statement ends. On the writer thread's own glibc arena, each of
//! those frees brought the arena's free top above the default trim threshold (128 KiB),
//! so glibc gave the pages back with `madvise`, which in a multi-threaded process means
//! a TLB shoot-down interrupting every other core. `perf` showed this at ~10 % of the
//! writer's time under API load. A 4 MiB threshold keeps that memory in the arena;
//! freed memory beyond it still goes back to the system.
//!
//! Measured (`herald-bench all`, 32 clients, two runs each way): 3,629–3,770 →
//! 4,217–4,579 turns/s, CPU per turn 0.363–0.368 → 0.286–0.320 ms, and RSS after the
//! load no higher (28.2–28.9 → 26.7–29.4 MiB).

/// Bytes of free memory an arena keeps at its top before returning the rest.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 4 << 20;

/// Applies the tuning; `false` if the allocator refused it (then nothing changed).
/// Call first thing in `main`, before threads start allocating.
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters and takes glibc's own lock
        // to do so; no memory is touched.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_trim_threshold() {
        assert!(super::tune());
        // Allocation still works after the change, including a large block.
        let block = vec![7u8; 8 << 20];
        assert_eq!(block.iter().map(|&b| b as usize).sum::<usize>(), 7 * (8 << 20));
    }
}
