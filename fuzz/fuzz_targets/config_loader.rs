//! The configuration loader over arbitrary `config.yaml` and `.env` text: it must never
//! panic, and whatever it accepts must be usable (every typed value within its range,
//! `config show` renderable, secrets never shown whole).
#![no_main]

use herald_core::config::{ConfigLoader, SETTINGS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A NUL separates the two files, so one input exercises both parsers and layering.
    let (yaml, dotenv) = text.split_once('\0').unwrap_or((text, ""));
    let mut loader = ConfigLoader::new();
    let yaml_err = loader.yaml("config.yaml", yaml).err();
    let dotenv_err = loader.dotenv(".env", dotenv).err();
    if let Some(e) = yaml_err.or(dotenv_err) {
        let message = e.to_string();
        assert!(!message.is_empty());
        return;
    }
    match loader.build() {
        Ok(effective) => {
            let c = &effective.config;
            assert!((1..=1000).contains(&c.agent.max_turns));
            assert!(c.model.max_tokens >= 1);
            for row in effective.shown() {
                let setting = SETTINGS.iter().find(|s| s.key == row.key).expect("row for a known key");
                if setting.secret {
                    if let Some(v) = &row.value {
                        assert!(v == "****" || v.contains('…'), "secret shown whole: {v}");
                    }
                }
            }
            let _ = c.model.resolve();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
