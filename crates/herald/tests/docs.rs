//! Keeps the user documentation true to the code.
//!
//! The settings table in `docs/configuration.md` is rendered from the settings
//! registry. After changing a setting, regenerate it with
//! `HERALD_BLESS_DOCS=1 cargo test -p herald --test docs`.

use std::path::PathBuf;

use herald_core::config::{Kind, SETTINGS, Setting};

const TABLE_START: &str = "| key in config.yaml | environment | default | accepts | what it does |";

/// The crate's directory, read when the test runs: cargo sets it then, and the compile-time
/// value goes stale when the same target directory serves a checkout in another place.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn doc_path(name: &str) -> PathBuf {
    manifest_dir().join("../../docs").join(name)
}

fn accepts(s: &Setting) -> String {
    if s.secret {
        return "text (secret: masked in `config show`, never logged)".into();
    }
    match s.kind {
        Kind::Choice(words) => words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
        Kind::Bool => "`true`/`false` (also yes/no, on/off, 1/0)".into(),
        Kind::Url => "`http://` or `https://` URL".into(),
        other => other.expected(),
    }
}

fn render_table() -> String {
    let mut out = format!("{TABLE_START}\n| --- | --- | --- | --- | --- |\n");
    for s in SETTINGS {
        let env = if s.env.is_empty() {
            "—".to_string()
        } else {
            s.env.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        };
        let default = s.default.map(|d| format!("`{d}`")).unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| `{}` | {env} | {default} | {} | {} |\n",
            s.key,
            accepts(s),
            s.help.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn configuration_doc_has_the_current_settings_table() {
    let path = doc_path("configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
    let start = text.find(TABLE_START).expect("the settings table header");
    let end = text[start..].find("\n\n").map(|i| start + i + 1).unwrap_or(text.len());
    let expected = render_table();
    if std::env::var_os("HERALD_BLESS_DOCS").is_some() {
        let updated = format!("{}{}{}", &text[..start], expected, &text[end..]);
        std::fs::write(&path, updated).expect("write docs/configuration.md");
        return;
    }
    assert_eq!(
        &text[start..end],
        expected,
        "docs/configuration.md is out of date: run HERALD_BLESS_DOCS=1 cargo test -p herald --test docs"
    );
}
