//! Slash commands: parsing, the registry with its `/help` and `/commands` pages, and
//! access tiers. Pure; the handlers that act on a command live with the runner.
//!
//! What the runner calls, per message whose text starts with `/`:
//! - [`parse`]`(text, Some(bot_username))` gives a [`ParsedCommand`] (canonical `name`,
//!   `spec`, `args`, `raw`), or `None` when the text is not a command for this bot;
//! - an unknown command ([`ParsedCommand::is_known`] false) gets
//!   [`unknown_command_reply`]`(&cmd.name)`;
//! - [`access::check`]`(&access_config, &source, &cmd.name)` gives `Err(denial text)`
//!   when the sender's tier may not run it ([`access::tier`] for `/whoami`);
//! - `/help` is [`help_text`]`(platform, tier.catalog())`, `/commands` is
//!   [`commands_page`]`(&cmd.args, platform, tier.catalog())`;
//! - [`CommandSpec::runs_while_busy`] says which commands bypass a running turn.

pub mod access;
pub mod parse;
pub mod registry;

pub use parse::{ParsedCommand, parse};
pub use registry::{COMMANDS, CommandSpec, commands_page, help_lines, help_text, lookup, unknown_command_reply};
