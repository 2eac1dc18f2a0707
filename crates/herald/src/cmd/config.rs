//! `herald config show`.

use std::process::ExitCode;

use herald_core::config::Effective;

use crate::cli::ConfigCommand;
use crate::home::Home;

pub fn run(home: &Home, effective: &Effective, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Show => {
            println!("# home: {}", home.dir.display());
            let rows = effective.shown();
            let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
            for row in rows {
                let value = row.value.as_deref().unwrap_or("(unset)");
                let origin = row.origin.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
                let env = if row.env.is_empty() { String::new() } else { format!("  [env: {}]", row.env.join(", ")) };
                println!("{:<width$}  {value}  # {origin}{env}", row.key);
            }
            for w in &effective.warnings {
                println!("# warning: {w}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
