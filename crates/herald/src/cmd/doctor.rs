//! `herald doctor`: checks each thing herald depends on and says how to fix what fails.

use std::process::ExitCode;

use herald_agent::provider::{ChatRequest, SystemBlock};
use herald_core::Message;

use crate::home::Home;
use crate::settings::{self, FlagSetting};
use crate::wiring;

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&self, what: &str, detail: impl std::fmt::Display) {
        println!("✓ {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("✗ {what}: {detail}");
    }
}

pub async fn run(home: &Home, flags: &[FlagSetting]) -> anyhow::Result<ExitCode> {
    let mut r = Report { failed: false };
    match home.ensure() {
        Ok(()) => r.ok("home directory", home.dir.display()),
        Err(e) => {
            r.fail("home directory", format!("{e:#}"));
            return Ok(ExitCode::FAILURE);
        }
    }
    let effective = match settings::load(home, flags) {
        Ok(e) => {
            r.ok("configuration", format!("{} ({} warnings)", home.config_file().display(), e.warnings.len()));
            for w in &e.warnings {
                println!("  ! {w}");
            }
            e
        }
        Err(e) => {
            r.fail("configuration", format!("{e:#}"));
            return Ok(ExitCode::FAILURE);
        }
    };
    match wiring::open_store(home).await {
        Ok(store) => match store.list_sessions(Default::default()).await {
            Ok(s) => r.ok("database", format!("{} ({} recent sessions)", home.database().display(), s.sessions.len())),
            Err(e) => r.fail("database", e),
        },
        Err(e) => r.fail("database", format!("{e:#}")),
    }
    match wiring::build_provider(&effective.config) {
        Err(e) => r.fail("model provider", format!("{e:#}")),
        Ok((provider, resolved)) => {
            let request = ChatRequest {
                model: resolved.model.clone(),
                system: vec![SystemBlock { text: "Reply with the single word: ok".into(), cache: false }],
                messages: vec![Message::user("ping")],
                tools: Vec::new(),
                max_tokens: 16,
                temperature: None,
                reasoning: None,
                thinking: Vec::new(),
            };
            let target = resolved.base_url.clone().unwrap_or_else(|| "the default endpoint".into());
            match provider.complete(&request, false, &mut |_| {}).await {
                Ok(_) => r.ok(
                    "model provider",
                    format!("{} model {} at {target} answered", resolved.kind.as_str(), resolved.model),
                ),
                Err(e) => r.fail("model provider", e),
            }
        }
    }
    let platforms: Vec<String> = herald_platforms::REGISTRY.iter().map(|p| (p.platform)().to_string()).collect();
    println!(
        "· chat platforms compiled in: {}",
        if platforms.is_empty() { "none yet".to_string() } else { platforms.join(", ") }
    );
    Ok(if r.failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
