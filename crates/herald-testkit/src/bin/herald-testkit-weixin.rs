//! The fake WeChat iLink server as a standalone process, for tests and benchmarks that
//! run the real `herald` binary. Drive it over HTTP under `/_control/` (see
//! `herald_testkit::weixin::control`, typed client `herald_testkit::weixin::WeixinControl`).

use std::io::Write;

use clap::Parser;
use herald_testkit::weixin::{Config, FakeOptions, FakeWeixin};

/// A fake WeChat iLink bot server (and CDN) on 127.0.0.1.
#[derive(Parser)]
#[command(name = "herald-testkit-weixin", version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one. The first line on stdout is
    /// `listening on http://127.0.0.1:PORT`.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Port of the second listener that `scaned_but_redirect` names; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    redirect_port: u16,
    /// The bot account id; the token is `<bot-id>:<secret>`.
    #[arg(long, default_value = "b0f5860fdecb@im.bot")]
    bot_id: String,
    #[arg(long, default_value = "fake-ilink-secret-0123456789")]
    secret: String,
    /// The `SKRouteTag` every request must carry (unchecked when absent).
    #[arg(long)]
    route_tag: Option<String>,
    /// How long `getupdates` holds a request with nothing to deliver, in milliseconds.
    #[arg(long, default_value_t = Config::default().poll_hold_ms)]
    poll_hold_ms: u64,
    /// The `longpolling_timeout_ms` every `getupdates` answer suggests.
    #[arg(long, default_value_t = Config::default().longpolling_timeout_ms)]
    longpolling_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let options = FakeOptions {
        port: args.port,
        redirect_port: args.redirect_port,
        bot_id: args.bot_id,
        secret: args.secret,
        route_tag: args.route_tag,
        config: Config {
            poll_hold_ms: args.poll_hold_ms,
            longpolling_timeout_ms: args.longpolling_timeout_ms,
            ..Config::default()
        },
        ..FakeOptions::default()
    };
    let wx = match FakeWeixin::start_with(options).await {
        Ok(wx) => wx,
        Err(err) => {
            eprintln!("herald-testkit-weixin: cannot listen on 127.0.0.1:{}: {err}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    // A harness reads this line to learn the port, so it must not sit in a buffer.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", wx.base_url());
    let _ = stdout.flush();
    drop(stdout);

    let _ = tokio::signal::ctrl_c().await;
    wx.shutdown();
    std::process::ExitCode::SUCCESS
}
