//! Links herald's functions in the order they first run (`code-order.txt`, written by
//! `scripts/code-order.sh`).
//!
//! Linux maps a binary's code into a process 64 KiB around each page it touches, so
//! with the functions start-up and an idle gateway use scattered across 9.4 MiB of code,
//! nearly all of it became resident (7.8 MiB of the `.text`) although only about
//! 2.0 MiB of it ran. Placed together, those functions cover few pages. Only the release
//! binary on x86-64 Linux is ordered, where rustc links with LLD (the only linker here
//! that takes `--symbol-ordering-file`); `HERALD_CODE_ORDER=0` turns it off, e.g. for a
//! build with another linker. Names the build no longer has are skipped: a stale file
//! costs memory, never correctness.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=code-order.txt");
    println!("cargo::rerun-if-env-changed=HERALD_CODE_ORDER");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    // Another linker chosen by flags or by cargo configuration may not know the option.
    let other_linker =
        ["fuse-ld", "linker-flavor", "linker-features", "-Clinker=", "linker="].iter().any(|flag| flags.contains(flag))
            || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some();
    if env("PROFILE") != "release"
        || env("TARGET") != "x86_64-unknown-linux-gnu"
        || env("HERALD_CODE_ORDER") == "0"
        || other_linker
    {
        return;
    }
    let order = Path::new(&env("CARGO_MANIFEST_DIR")).join("code-order.txt");
    if order.is_file() {
        println!("cargo::rustc-link-arg-bin=herald=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo::rustc-link-arg-bin=herald=-Wl,--no-warn-symbol-ordering");
    }
}
