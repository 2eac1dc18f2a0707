//! Command-line syntax.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Connects one AI agent to every place people chat.")]
pub struct Cli {
    /// The home directory (default: $HERALD_HOME, else ~/.herald).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Set any setting for this run: --set agent.max_turns=20 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway daemon: the OpenAI-compatible API server (and later the chat platforms).
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Talk to the agent from the terminal.
    Chat(ChatArgs),
    /// Inspect and search stored conversations.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the home directory, the database and the model provider.
    Doctor,
    /// Approve or revoke chat users who asked for access with a pairing code.
    #[command(subcommand)]
    Pairing(PairingCommand),
    /// Log a platform account in (WeChat: scan a QR code with the WeChat app).
    #[command(subcommand)]
    Login(LoginCommand),
}

#[derive(Debug, Subcommand)]
pub enum LoginCommand {
    /// Show a QR code to scan with WeChat, follow the login to the end and save the
    /// account under HERALD_HOME/accounts/weixin/.
    Weixin(WeixinLoginArgs),
}

#[derive(Debug, Args)]
pub struct WeixinLoginArgs {
    /// Where to write the QR as a PNG too (default: HERALD_HOME/weixin-login-qr.png).
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Show pending pairing codes (never the codes themselves) and approved users.
    List,
    /// Let the user who received CODE on PLATFORM talk to the bot.
    Approve {
        /// The platform the pairing message came from, e.g. telegram.
        platform: String,
        /// The 8-character code from the pairing message (case does not matter).
        code: String,
    },
    /// Take back an approval.
    Revoke {
        platform: String,
        /// The user id, as `herald pairing list` shows it.
        user_id: String,
    },
    /// Delete every pending pairing code.
    ClearPending,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run in the foreground until a signal, then drain running turns. Exits 0 after a
    /// planned stop (`herald gateway stop`, a takeover, Ctrl-C) and 75 after any other.
    Run(GatewayRunArgs),
    /// Say whether a gateway runs in this home, with its pid and each platform's state.
    /// Exits 0 when running, 3 when not.
    Status,
    /// Stop the gateway of this home (a planned stop: it drains and exits 0).
    Stop(GatewayStopArgs),
    /// Stop the gateway and start it again (through systemd when systemd runs it).
    Restart(GatewayStopArgs),
    /// Write a systemd user unit that runs this gateway (~/.config/systemd/user/herald-gateway.service).
    Install(GatewayInstallArgs),
}

#[derive(Debug, Args)]
pub struct GatewayRunArgs {
    /// How log lines are written to stderr: `human` lines or one `json` object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, env = "HERALD_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Take over from a gateway already running in this home: it is asked to stop (and
    /// killed if it does not stop in time), then this one starts.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct GatewayStopArgs {
    /// How long to wait for the gateway to exit, in seconds
    /// (default: gateway.drain_timeout_seconds plus 15).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GatewayInstallArgs {
    /// Print the unit instead of writing it.
    #[arg(long)]
    pub print: bool,
    /// Replace an existing unit file that differs.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Ask one question, print only the answer, and exit.
    #[arg(short = 'q', long = "query", value_name = "TEXT")]
    pub query: Option<String>,
    /// Continue the most recent terminal conversation instead of starting a new one.
    #[arg(short = 'c', long = "continue", conflicts_with = "resume")]
    pub continue_last: bool,
    /// Continue the conversation with this session id.
    #[arg(long, value_name = "SESSION_ID")]
    pub resume: Option<String>,
    /// The model to use (sets model.default).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// The provider to use: openai or anthropic (sets model.provider).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List conversations, most recent first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this platform (local, telegram, ...).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Show one conversation's messages.
    Show {
        /// The session id, as printed by `herald sessions list`.
        id: String,
    },
    /// Search every conversation for words or any part of a word.
    Search {
        /// What to look for.
        text: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = SearchModeArg::Auto)]
        mode: SearchModeArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SearchModeArg {
    /// Whole words first, then substrings.
    Auto,
    /// Whole words only.
    Words,
    /// Any part of a word.
    Substring,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked, and where each value came from.
    Show,
}
