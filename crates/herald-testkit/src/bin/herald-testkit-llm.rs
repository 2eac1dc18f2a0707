//! The scripted LLM as a standalone process, for benchmarks and for tests that
//! run the real `herald` binary. Script it over HTTP under `/__testkit/` (see
//! `herald_testkit::llm::control`).

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use herald_testkit::llm::{Reply, ScriptedLlm, ServerOptions};

/// A scripted OpenAI- and Anthropic-compatible LLM server on 127.0.0.1.
#[derive(Parser)]
#[command(name = "herald-testkit-llm", version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one. The first line on stdout is
    /// `listening on http://127.0.0.1:PORT`.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The answer when nothing is scripted; without it the server echoes the
    /// last user message.
    #[arg(long)]
    reply: Option<String>,
    /// The most chunks a streamed answer is split into (between words).
    #[arg(long, default_value_t = 8)]
    chunks: usize,
    /// Pause between stream chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Wait before the first token of every unscripted answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    first_token_delay_ms: u64,
    /// Count requests but do not keep them (no `GET /__testkit/requests` data,
    /// less work per request).
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut fallback = args.reply.map_or(Reply::Echo, Reply::Text);
    if args.first_token_delay_ms > 0 {
        fallback = fallback.delayed(Duration::from_millis(args.first_token_delay_ms));
    }
    let options = ServerOptions {
        port: args.port,
        chunks: args.chunks,
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        record: !args.no_record,
        fallback,
    };
    let llm = match ScriptedLlm::start_with(options).await {
        Ok(llm) => llm,
        Err(err) => {
            eprintln!("herald-testkit-llm: cannot listen on 127.0.0.1:{}: {err}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    // A harness reads this line to learn the port, so it must not sit in a buffer.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{}", llm.addr());
    let _ = stdout.flush();
    drop(stdout);

    let _ = tokio::signal::ctrl_c().await;
    llm.shutdown();
    std::process::ExitCode::SUCCESS
}
