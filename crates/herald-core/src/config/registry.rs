//! Every setting herald reads: its key in `config.yaml`, the environment variables that
//! set it, its default and what values it accepts.
//!
//! One table serves loading, validation, `herald config show` and the docs, so a setting
//! cannot exist in one place and be missing from another.

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Bool,
    /// A whole number within the inclusive range.
    UInt {
        min: u64,
        max: u64,
    },
    /// A number within the inclusive range.
    Float {
        min: f64,
        max: f64,
    },
    /// One of the listed words (compared case-insensitively).
    Choice(&'static [&'static str]),
    /// An `http://` or `https://` URL.
    Url,
}

impl Kind {
    /// Says what the setting expects, for error messages.
    pub fn expected(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Bool => "true or false (also yes/no, on/off, 1/0)".into(),
            Kind::UInt { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Float { min, max } => format!("a number from {min} to {max}"),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::Url => "an http:// or https:// URL".into(),
        }
    }
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The dotted key in `config.yaml`.
    pub key: &'static str,
    /// Environment variables that set it, strongest first. `.env` uses the same names.
    pub env: &'static [&'static str],
    pub default: Option<&'static str>,
    pub kind: Kind,
    /// Masked by `herald config show` and never logged.
    pub secret: bool,
    pub help: &'static str,
}

const fn setting(
    key: &'static str,
    env: &'static [&'static str],
    default: Option<&'static str>,
    kind: Kind,
    help: &'static str,
) -> Setting {
    Setting { key, env, default, kind, secret: false, help }
}

const fn secret(key: &'static str, env: &'static [&'static str], help: &'static str) -> Setting {
    Setting { key, env, default: None, kind: Kind::Text, secret: true, help }
}

/// Provider names accepted by `model.provider`. Every name but `anthropic` speaks the
/// OpenAI chat-completions wire format; the aliases let Hermes configs load unchanged.
pub const PROVIDER_CHOICES: &[&str] =
    &["auto", "openai", "anthropic", "openrouter", "custom", "ollama", "vllm", "llamacpp", "lmstudio"];

/// Accepted values of the `session_reset` modes.
pub const RESET_MODES: &[&str] = &["none", "idle", "daily", "both"];

/// The table of settings.
pub const SETTINGS: &[Setting] = &[
    setting(
        "model.provider",
        &["HERALD_PROVIDER"],
        Some("auto"),
        Kind::Choice(PROVIDER_CHOICES),
        "Which LLM wire format to speak; `auto` infers it from the API key that is set.",
    ),
    setting("model.default", &["HERALD_MODEL"], None, Kind::Text, "The model name sent to the provider."),
    setting(
        "model.base_url",
        &["HERALD_LLM_BASE_URL"],
        None,
        Kind::Url,
        "Base URL of any OpenAI- or Anthropic-compatible server (OpenRouter, Ollama, vLLM, llama.cpp).",
    ),
    secret("providers.openai.api_key", &["OPENAI_API_KEY"], "API key for OpenAI-compatible servers."),
    secret("providers.anthropic.api_key", &["ANTHROPIC_API_KEY"], "API key for Anthropic."),
    setting(
        "model.max_tokens",
        &["HERALD_MAX_TOKENS"],
        Some("4096"),
        Kind::UInt { min: 1, max: 1_000_000 },
        "Most tokens the model may write in one call.",
    ),
    setting(
        "model.temperature",
        &["HERALD_TEMPERATURE"],
        None,
        Kind::Float { min: 0.0, max: 2.0 },
        "Sampling temperature; unset leaves the provider's default.",
    ),
    setting("model.stream", &["HERALD_STREAM"], Some("true"), Kind::Bool, "Stream answers token by token."),
    setting(
        "model.timeout_seconds",
        &["HERALD_LLM_TIMEOUT"],
        Some("600"),
        Kind::UInt { min: 1, max: 86_400 },
        "How long one model call may take; long by default for cold local models.",
    ),
    setting(
        "model.connect_timeout_seconds",
        &["HERALD_LLM_CONNECT_TIMEOUT"],
        Some("10"),
        Kind::UInt { min: 1, max: 600 },
        "How long to wait for a connection to the provider.",
    ),
    setting(
        "model.max_retries",
        &["HERALD_LLM_MAX_RETRIES"],
        Some("3"),
        Kind::UInt { min: 0, max: 10 },
        "Retries on 429, 5xx and connection errors.",
    ),
    setting(
        "agent.max_turns",
        &["HERALD_MAX_ITERATIONS", "HERMES_MAX_ITERATIONS"],
        Some("90"),
        Kind::UInt { min: 1, max: 1000 },
        "Most model calls in one turn (tool-call round trips).",
    ),
    setting("memory.memory_enabled", &[], Some("true"), Kind::Bool, "Give the agent MEMORY.md and the memory tool."),
    setting(
        "memory.user_profile_enabled",
        &[],
        Some("true"),
        Kind::Bool,
        "Give the agent USER.md (what it knows about the user).",
    ),
    setting(
        "memory.memory_char_limit",
        &[],
        Some("2200"),
        Kind::UInt { min: 100, max: 1_000_000 },
        "Largest MEMORY.md the memory tool will write, in characters.",
    ),
    setting(
        "memory.user_char_limit",
        &[],
        Some("1375"),
        Kind::UInt { min: 100, max: 1_000_000 },
        "Largest USER.md the memory tool will write, in characters.",
    ),
    setting(
        "timezone",
        &["HERALD_TIMEZONE", "HERMES_TIMEZONE"],
        None,
        Kind::Text,
        "IANA time zone for the clock tool and timestamps (e.g. Europe/Berlin); unset uses the system's.",
    ),
    setting(
        "api_server.enabled",
        &["API_SERVER_ENABLED"],
        Some("true"),
        Kind::Bool,
        "Serve the OpenAI-compatible API (and later the web chat) from `herald gateway run`.",
    ),
    secret(
        "api_server.key",
        &["API_SERVER_KEY"],
        "Bearer key every API request must carry (at least 16 characters); generated and stored in .env on first start when unset.",
    ),
    setting(
        "api_server.host",
        &["API_SERVER_HOST"],
        Some("127.0.0.1"),
        Kind::Text,
        "Address the API server listens on.",
    ),
    setting(
        "api_server.port",
        &["API_SERVER_PORT"],
        Some("8642"),
        Kind::UInt { min: 1, max: 65_535 },
        "Port the API server listens on.",
    ),
    setting(
        "api_server.cors_origins",
        &["API_SERVER_CORS_ORIGINS"],
        None,
        Kind::Text,
        "Browser origins allowed to call the API, comma-separated, or `*`; other origins get 403.",
    ),
    setting(
        "api_server.model_name",
        &["API_SERVER_MODEL_NAME"],
        Some("hermes-agent"),
        Kind::Text,
        "Model id the API advertises; Hermes's default, so existing clients work unchanged.",
    ),
    setting(
        "gateway.api_server.max_concurrent_runs",
        &["API_SERVER_MAX_CONCURRENT_RUNS"],
        Some("10"),
        Kind::UInt { min: 0, max: 100_000 },
        "Most turns the API runs at once (0 = no cap); beyond it requests get 429 with Retry-After.",
    ),
    setting(
        "gateway.drain_timeout_seconds",
        &["HERALD_DRAIN_TIMEOUT", "HERMES_RESTART_DRAIN_TIMEOUT"],
        Some("30"),
        Kind::UInt { min: 0, max: 3600 },
        "On SIGTERM/SIGINT, how long running turns may finish before they are cancelled.",
    ),
    setting(
        "gateway.lock_dir",
        &["HERALD_GATEWAY_LOCK_DIR", "HERMES_GATEWAY_LOCK_DIR"],
        None,
        Kind::Text,
        "Machine-wide directory of the credential locks that keep two gateways off one bot token (default ~/.local/state/herald/gateway-locks).",
    ),
    setting(
        "gateway.max_inbound_media_bytes",
        &["HERALD_MAX_INBOUND_MEDIA_BYTES"],
        Some("134217728"),
        Kind::UInt { min: 0, max: 4_294_967_296 },
        "Largest file a chat platform may hand the agent (photos, voice, documents), in bytes; larger ones are refused before download.",
    ),
    setting(
        "gateway.allowed_users",
        &["GATEWAY_ALLOWED_USERS"],
        None,
        Kind::Text,
        "User ids allowed on every chat platform, comma-separated (`*` allows everyone).",
    ),
    setting(
        "gateway.allow_all_users",
        &["GATEWAY_ALLOW_ALL_USERS"],
        Some("false"),
        Kind::Bool,
        "Let everyone talk to the bot on platforms that have no allowlist at all (no `<PLATFORM>_ALLOWED_USERS` and no `gateway.allowed_users`).",
    ),
    setting(
        "unauthorized_dm_behavior",
        &[],
        Some("pair"),
        Kind::Choice(&["pair", "ignore"]),
        "What an unknown user's direct message gets: `pair` (a pairing code for `herald pairing approve`) or `ignore`. Platforms with an allowlist ignore by default; groups never get codes.",
    ),
    secret(
        "telegram.bot_token",
        &["TELEGRAM_BOT_TOKEN"],
        "Token of the Telegram bot from @BotFather; setting it enables Telegram.",
    ),
    setting(
        "telegram.api_base_url",
        &["TELEGRAM_API_BASE_URL"],
        Some("https://api.telegram.org"),
        Kind::Url,
        "Base URL of the Telegram Bot API (a local Bot API server or a test fake).",
    ),
    setting(
        "telegram.allowed_users",
        &["TELEGRAM_ALLOWED_USERS"],
        None,
        Kind::Text,
        "Telegram user ids allowed to talk to the bot, comma-separated (`*` allows everyone).",
    ),
    setting(
        "telegram.allow_all_users",
        &["TELEGRAM_ALLOW_ALL_USERS"],
        Some("false"),
        Kind::Bool,
        "Let every Telegram user talk to the bot, without an allowlist or pairing.",
    ),
    setting(
        "telegram.group_allowed_users",
        &["TELEGRAM_GROUP_ALLOWED_USERS"],
        None,
        Kind::Text,
        "Telegram user ids allowed to talk to the bot in groups and forums, comma-separated.",
    ),
    setting(
        "telegram.group_allowed_chats",
        &["TELEGRAM_GROUP_ALLOWED_CHATS"],
        None,
        Kind::Text,
        "Telegram group chat ids (e.g. -1001234567890) where everyone may talk to the bot, comma-separated; `*` allows every group.",
    ),
    setting(
        "telegram.allow_bots",
        &["TELEGRAM_ALLOW_BOTS"],
        Some("none"),
        Kind::Choice(crate::config::telegram::ALLOW_BOTS_CHOICES),
        "Whether messages from other bots are admitted: `none`, `mentions` (only when they mention this bot) or `all`.",
    ),
    setting(
        "telegram.unauthorized_dm_behavior",
        &[],
        None,
        Kind::Choice(&["pair", "ignore"]),
        "Telegram's own `unauthorized_dm_behavior`, overriding the global one and the allowlist default.",
    ),
    setting(
        "telegram.allow_admin_from",
        &[],
        None,
        Kind::Text,
        "Telegram user ids that may run every slash command in direct messages; when set, others may run only `telegram.user_allowed_commands` plus /help and /whoami.",
    ),
    setting(
        "telegram.user_allowed_commands",
        &[],
        None,
        Kind::Text,
        "Slash commands non-admins may run in Telegram direct messages (list or comma-separated, e.g. `status, new`).",
    ),
    setting(
        "telegram.group_allow_admin_from",
        &[],
        None,
        Kind::Text,
        "Telegram user ids that may run every slash command in groups; when set, gating is on in groups.",
    ),
    setting(
        "telegram.group_user_allowed_commands",
        &[],
        None,
        Kind::Text,
        "Slash commands non-admins may run in Telegram groups (also used in direct messages when `telegram.user_allowed_commands` is empty).",
    ),
    setting(
        "telegram.home_channel",
        &["TELEGRAM_HOME_CHANNEL"],
        None,
        Kind::Text,
        "Chat id where the gateway sends notices and cron results for Telegram.",
    ),
    setting(
        "telegram.home_channel_name",
        &["TELEGRAM_HOME_CHANNEL_NAME"],
        Some("Home"),
        Kind::Text,
        "Display name of the Telegram home channel.",
    ),
    setting(
        "telegram.home_channel_thread_id",
        &["TELEGRAM_HOME_CHANNEL_THREAD_ID"],
        None,
        Kind::Text,
        "Forum topic id inside the Telegram home channel.",
    ),
    setting(
        "telegram.require_mention",
        &["TELEGRAM_REQUIRE_MENTION"],
        Some("false"),
        Kind::Bool,
        "In groups, answer only messages that mention the bot, reply to it, or are commands for it (Hermes's default is off).",
    ),
    setting(
        "telegram.mention_patterns",
        &["TELEGRAM_MENTION_PATTERNS"],
        None,
        Kind::Text,
        "Extra wake words for groups: a JSON list of regular expressions, or one per line, or comma-separated; matched case-insensitively.",
    ),
    setting(
        "telegram.free_response_chats",
        &["TELEGRAM_FREE_RESPONSE_CHATS"],
        None,
        Kind::Text,
        "Group chat ids where the bot answers every message even when mentions are required, comma-separated.",
    ),
    setting(
        "telegram.reply_to_mode",
        &["TELEGRAM_REPLY_TO_MODE"],
        Some("first"),
        Kind::Choice(&["off", "first", "all"]),
        "Which parts of an answer are sent as a reply to the user's message: none, the first, or all.",
    ),
    setting(
        "telegram.webhook_url",
        &["TELEGRAM_WEBHOOK_URL"],
        None,
        Kind::Url,
        "Public HTTPS URL Telegram posts updates to; when set, webhook mode replaces long polling.",
    ),
    setting(
        "telegram.webhook_host",
        &["TELEGRAM_WEBHOOK_HOST"],
        Some("0.0.0.0"),
        Kind::Text,
        "Address the webhook listener binds (herald addition; Hermes always binds 0.0.0.0).",
    ),
    setting(
        "telegram.webhook_port",
        &["TELEGRAM_WEBHOOK_PORT"],
        Some("8443"),
        Kind::UInt { min: 1, max: 65_535 },
        "Port the webhook listener binds; a reverse proxy forwards the webhook URL to it.",
    ),
    secret(
        "telegram.webhook_secret",
        &["TELEGRAM_WEBHOOK_SECRET"],
        "Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with every webhook call (1-256 of A-Z a-z 0-9 _ -); required in webhook mode.",
    ),
    setting(
        "telegram.proxy",
        &["TELEGRAM_PROXY"],
        None,
        Kind::Url,
        "HTTP(S) proxy for every call to the Telegram Bot API.",
    ),
    secret(
        "weixin.token",
        &["WEIXIN_TOKEN"],
        "WeChat bot token (`…@im.bot:…`); usually left unset, since `herald login weixin` stores it in the account file. Setting it or `WEIXIN_ACCOUNT_ID` enables WeChat.",
    ),
    setting(
        "weixin.account_id",
        &["WEIXIN_ACCOUNT_ID"],
        None,
        Kind::Text,
        "The WeChat bot account (`ilink_bot_id`, `…@im.bot`) whose saved login to use.",
    ),
    setting(
        "weixin.base_url",
        &["WEIXIN_BASE_URL"],
        Some(crate::config::weixin::DEFAULT_BASE_URL),
        Kind::Url,
        "Base URL of the iLink bot API (another server or a test fake); the QR login uses it too.",
    ),
    setting(
        "weixin.cdn_base_url",
        &["WEIXIN_CDN_BASE_URL"],
        Some(crate::config::weixin::DEFAULT_CDN_BASE_URL),
        Kind::Url,
        "Base URL of the WeChat media CDN (uploads and downloads of encrypted media).",
    ),
    setting(
        "weixin.dm_policy",
        &["WEIXIN_DM_POLICY"],
        Some("pairing"),
        Kind::Choice(crate::config::weixin::POLICY_CHOICES),
        "Direct messages: `pairing` (unknown users get a pairing code), `allowlist` (only WEIXIN_ALLOWED_USERS), `open` (everyone, with WEIXIN_ALLOW_ALL_USERS) or `disabled`.",
    ),
    setting(
        "weixin.group_policy",
        &["WEIXIN_GROUP_POLICY"],
        Some("disabled"),
        Kind::Choice(crate::config::weixin::POLICY_CHOICES),
        "Group chats: `disabled`, `allowlist` (only the group ids in WEIXIN_GROUP_ALLOWED_USERS) or `open`; iLink rarely delivers group messages at all.",
    ),
    setting(
        "weixin.allowed_users",
        &["WEIXIN_ALLOWED_USERS"],
        None,
        Kind::Text,
        "WeChat user ids (`…@im.wechat`) allowed to talk to the bot, comma-separated (`*` allows everyone).",
    ),
    setting(
        "weixin.allow_all_users",
        &["WEIXIN_ALLOW_ALL_USERS"],
        Some("false"),
        Kind::Bool,
        "Let every WeChat user talk to the bot, without an allowlist or pairing.",
    ),
    setting(
        "weixin.group_allowed_users",
        &["WEIXIN_GROUP_ALLOWED_USERS"],
        None,
        Kind::Text,
        "Group chat ids (not user ids, as in Hermes) where the bot answers under the `allowlist` group policy, comma-separated.",
    ),
    setting(
        "weixin.split_multiline_messages",
        &["WEIXIN_SPLIT_MULTILINE_MESSAGES"],
        Some("false"),
        Kind::Bool,
        "Send every line of an answer as its own message (Hermes's legacy mode) instead of the compact split.",
    ),
    setting(
        "weixin.send_chunk_delay_seconds",
        &["WEIXIN_SEND_CHUNK_DELAY_SECONDS"],
        Some("1.5"),
        Kind::Float { min: 0.0, max: 60.0 },
        "Pause between the messages of one long answer, in seconds.",
    ),
    setting(
        "weixin.send_chunk_retries",
        &["WEIXIN_SEND_CHUNK_RETRIES"],
        Some("4"),
        Kind::UInt { min: 0, max: 20 },
        "How often one message of an answer is retried after a failed send.",
    ),
    setting(
        "weixin.send_chunk_retry_delay_seconds",
        &["WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS"],
        Some("1.0"),
        Kind::Float { min: 0.0, max: 60.0 },
        "Base delay of those retries in seconds; attempt n waits n times this.",
    ),
    setting(
        "weixin.rate_limit_circuit_threshold",
        &["WEIXIN_RATE_LIMIT_CIRCUIT_THRESHOLD"],
        Some("1"),
        Kind::UInt { min: 1, max: 1000 },
        "Rate-limit answers (`ret=-2`) within the window that stop all sends for a while.",
    ),
    setting(
        "weixin.rate_limit_circuit_window_seconds",
        &["WEIXIN_RATE_LIMIT_CIRCUIT_WINDOW_SECONDS"],
        Some("30"),
        Kind::Float { min: 0.0, max: 3600.0 },
        "The window in which rate-limit answers are counted, in seconds.",
    ),
    setting(
        "weixin.rate_limit_circuit_open_seconds",
        &["WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS"],
        Some("30"),
        Kind::Float { min: 0.0, max: 3600.0 },
        "How long sends stay stopped once the rate-limit circuit opens, in seconds.",
    ),
    setting(
        "weixin.cdn_allowed_hosts",
        &["WEIXIN_CDN_ALLOWED_HOSTS"],
        None,
        Kind::Text,
        "Hosts inbound media may be downloaded from, checked on every URL and redirect, comma-separated (herald addition); unset is Hermes's list of WeChat CDN hosts. The host of WEIXIN_CDN_BASE_URL is always allowed.",
    ),
    setting(
        "weixin.route_tag",
        &["WEIXIN_ROUTE_TAG"],
        None,
        Kind::UInt { min: 0, max: 4_294_967_295 },
        "Route tag sent as the `SKRouteTag` header on every iLink call, when set (herald addition; OpenClaw's `routeTag`).",
    ),
    setting(
        "session_reset.mode",
        &["HERALD_SESSION_RESET_MODE"],
        Some("none"),
        Kind::Choice(RESET_MODES),
        "When a chat's conversation starts over on its own: `idle` (after idle_minutes without a message), `daily` (at at_hour), `both`, or `none` (Hermes's default since July 2026).",
    ),
    setting(
        "session_reset.at_hour",
        &["SESSION_RESET_HOUR"],
        Some("4"),
        Kind::UInt { min: 0, max: 23 },
        "Hour of the day (in `timezone`) at which daily resets happen.",
    ),
    setting(
        "session_reset.idle_minutes",
        &["SESSION_IDLE_MINUTES"],
        Some("1440"),
        Kind::UInt { min: 1, max: 5_256_000 },
        "Minutes without a message after which an idle reset happens.",
    ),
    setting(
        "session_reset.notify",
        &["HERALD_SESSION_RESET_NOTIFY"],
        Some("true"),
        Kind::Bool,
        "Tell the user when their session was reset automatically.",
    ),
    setting(
        "session_reset.notify_exclude_platforms",
        &["HERALD_SESSION_RESET_NOTIFY_EXCLUDE"],
        Some("api_server,webhook"),
        Kind::Text,
        "Platforms (comma-separated) that never get the reset notice.",
    ),
    setting(
        "session_reset.by_type.dm.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for dm chats; unset uses session_reset.mode (a platform's own setting wins).",
    ),
    setting(
        "session_reset.by_type.dm.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for dm chats; unset uses session_reset.at_hour.",
    ),
    setting(
        "session_reset.by_type.dm.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for dm chats; unset uses session_reset.idle_minutes.",
    ),
    setting(
        "session_reset.by_type.group.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for group chats; unset uses session_reset.mode (a platform's own setting wins).",
    ),
    setting(
        "session_reset.by_type.group.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for group chats; unset uses session_reset.at_hour.",
    ),
    setting(
        "session_reset.by_type.group.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for group chats; unset uses session_reset.idle_minutes.",
    ),
    setting(
        "session_reset.by_type.channel.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for channel chats; unset uses session_reset.mode (a platform's own setting wins).",
    ),
    setting(
        "session_reset.by_type.channel.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for channel chats; unset uses session_reset.at_hour.",
    ),
    setting(
        "session_reset.by_type.channel.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for channel chats; unset uses session_reset.idle_minutes.",
    ),
    setting(
        "session_reset.by_type.thread.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for thread chats; unset uses session_reset.mode (a platform's own setting wins).",
    ),
    setting(
        "session_reset.by_type.thread.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for thread chats; unset uses session_reset.at_hour.",
    ),
    setting(
        "session_reset.by_type.thread.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for thread chats; unset uses session_reset.idle_minutes.",
    ),
    setting(
        "session_reset.by_type.forum.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for forum chats; unset uses session_reset.mode (a platform's own setting wins).",
    ),
    setting(
        "session_reset.by_type.forum.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for forum chats; unset uses session_reset.at_hour.",
    ),
    setting(
        "session_reset.by_type.forum.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for forum chats; unset uses session_reset.idle_minutes.",
    ),
    setting(
        "session_reset.by_platform.telegram.mode",
        &[],
        None,
        Kind::Choice(RESET_MODES),
        "Reset mode for every Telegram chat; wins over by_type and the default.",
    ),
    setting(
        "session_reset.by_platform.telegram.at_hour",
        &[],
        None,
        Kind::UInt { min: 0, max: 23 },
        "Daily reset hour for Telegram; unset falls back to by_type, then the default.",
    ),
    setting(
        "session_reset.by_platform.telegram.idle_minutes",
        &[],
        None,
        Kind::UInt { min: 1, max: 5_256_000 },
        "Idle minutes for Telegram; unset falls back to by_type, then the default.",
    ),
    setting(
        "group_sessions_per_user",
        &["HERALD_GROUP_SESSIONS_PER_USER"],
        Some("true"),
        Kind::Bool,
        "In groups, each participant gets their own session (Hermes's default).",
    ),
    setting(
        "thread_sessions_per_user",
        &["HERALD_THREAD_SESSIONS_PER_USER"],
        Some("false"),
        Kind::Bool,
        "In threads and forum topics, each participant gets their own session.",
    ),
    setting(
        "display.busy_input_mode",
        &["HERMES_GATEWAY_BUSY_INPUT_MODE"],
        Some("interrupt"),
        Kind::Choice(&["interrupt", "queue", "steer"]),
        "A message sent while the agent is still answering: `interrupt` stops the answer and handles it next, `queue` handles it after, `steer` hands it to the running turn after its next tool call.",
    ),
    setting(
        "display.busy_ack_enabled",
        &["HERMES_GATEWAY_BUSY_ACK_ENABLED"],
        Some("true"),
        Kind::Bool,
        "Acknowledge a message sent while busy (at most once every 30 s per chat).",
    ),
    setting(
        "agent.gateway_auto_continue_freshness",
        &["HERMES_AUTO_CONTINUE_FRESHNESS"],
        Some("3600"),
        Kind::UInt { min: 0, max: 31_536_000 },
        "After a restart, how old (seconds) an interrupted turn may be and still be resumed; older ones are dropped and the session starts over (0 = never resume).",
    ),
    setting(
        "streaming.enabled",
        &["HERALD_STREAMING"],
        Some("true"),
        Kind::Bool,
        "Stream answers into the chat as they are written (Hermes ships this off; herald on, for platforms that can edit).",
    ),
    setting(
        "streaming.transport",
        &["HERALD_STREAMING_TRANSPORT"],
        Some("auto"),
        Kind::Choice(&["auto", "draft", "edit", "off"]),
        "How answers stream: `auto` uses native drafts in private chats where the platform has them and edits elsewhere; `off` sends only the final answer.",
    ),
    setting(
        "streaming.edit_interval",
        &["HERALD_STREAMING_EDIT_INTERVAL"],
        Some("0.8"),
        Kind::Float { min: 0.1, max: 60.0 },
        "Seconds between edits of a streaming answer (doubled after each flood-control refusal, up to 10).",
    ),
    setting(
        "streaming.buffer_threshold",
        &["HERALD_STREAMING_BUFFER_THRESHOLD"],
        Some("24"),
        Kind::UInt { min: 1, max: 100_000 },
        "Characters of new text that trigger an edit before the interval is up.",
    ),
    setting(
        "streaming.cursor",
        &["HERALD_STREAMING_CURSOR"],
        Some(" ▉"),
        Kind::Text,
        "Shown at the end of an answer while it is still being written.",
    ),
    setting(
        "streaming.fresh_final_after_seconds",
        &["HERALD_STREAMING_FRESH_FINAL"],
        Some("0"),
        Kind::Float { min: 0.0, max: 86_400.0 },
        "When a streamed preview is older than this, the final answer is sent as a new message (so the chat notifies) and the preview deleted; 0 = always edit in place.",
    ),
    setting(
        "logging.level",
        &["HERALD_LOG_LEVEL"],
        Some("info"),
        Kind::Choice(&["trace", "debug", "info", "warn", "error"]),
        "How much herald logs.",
    ),
];

/// Looks a setting up by its dotted key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_names_are_unique_and_defaults_valid() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        let mut envs: Vec<&str> = SETTINGS.iter().flat_map(|s| s.env.iter().copied()).collect();
        let n = envs.len();
        envs.sort();
        envs.dedup();
        assert_eq!(envs.len(), n);
        for s in SETTINGS {
            if let Some(d) = s.default {
                assert!(super::super::value::check(s.kind, d).is_ok(), "default of {} is invalid", s.key);
            }
        }
    }
}
