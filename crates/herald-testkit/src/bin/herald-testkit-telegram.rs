//! The fake Telegram Bot API server as a standalone process, for tests and benchmarks
//! that run the real `herald` binary. Drive it over HTTP under `/_control/` (see
//! `herald_testkit::telegram::control`).

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use herald_testkit::telegram::{FakeOptions, FakeTelegram, RateLimit};

/// A fake Telegram Bot API server on 127.0.0.1.
#[derive(Parser)]
#[command(name = "herald-testkit-telegram", version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one. The first line on stdout is
    /// `listening on http://127.0.0.1:PORT`.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The bot token the server accepts.
    #[arg(long, default_value = "123456789:TEST-fake-telegram-token")]
    token: String,
    /// The bot's username (without `@`).
    #[arg(long, default_value = "herald_test_bot")]
    bot_username: String,
    /// Flood control: at most this many sends and edits per chat within the window;
    /// 0 turns flood control off.
    #[arg(long, default_value_t = 10)]
    rate_max_calls: usize,
    /// The flood-control window, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    rate_window_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rate_limit = (args.rate_max_calls > 0)
        .then(|| RateLimit::new(args.rate_max_calls, Duration::from_millis(args.rate_window_ms)));
    let options = FakeOptions {
        port: args.port,
        token: args.token,
        bot_username: args.bot_username,
        rate_limit,
        ..FakeOptions::default()
    };
    let tg = match FakeTelegram::start_with(options).await {
        Ok(tg) => tg,
        Err(err) => {
            eprintln!("herald-testkit-telegram: cannot listen on 127.0.0.1:{}: {err}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    // A harness reads this line to learn the port, so it must not sit in a buffer.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", tg.base_url());
    let _ = stdout.flush();
    drop(stdout);

    let _ = tokio::signal::ctrl_c().await;
    tg.shutdown();
    std::process::ExitCode::SUCCESS
}
