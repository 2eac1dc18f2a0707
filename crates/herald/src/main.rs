//! The `herald` command line: parses flags, loads configuration, wires the crates
//! together. Errors become `anyhow` only here, at the edge.

mod api_key;
mod cli;
mod cmd;
mod home;
mod malloc;
mod settings;
mod weixin;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before any thread allocates: the store writer's frees stay cheap (malloc.rs).
    malloc::tune();
    // reqwest is built without a default TLS provider; choosing ring here keeps the
    // build free of C toolchains beyond the SQLite one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
