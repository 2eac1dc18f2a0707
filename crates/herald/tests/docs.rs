//! Keeps the user documentation true to the code.

use std::path::Path;

use herald_core::config::SETTINGS;

fn doc(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name))
        .unwrap_or_else(|e| panic!("docs/{name}: {e}"))
}

#[test]
fn configuration_doc_lists_every_setting_and_variable() {
    let text = doc("configuration.md");
    for s in SETTINGS {
        assert!(text.contains(&format!("| `{}` |", s.key)), "docs/configuration.md has no row for `{}`", s.key);
        for var in s.env {
            assert!(text.contains(&format!("`{var}`")), "docs/configuration.md does not mention {var}");
        }
        if let Some(d) = s.default {
            assert!(text.contains(&format!("| `{d}` |")), "docs/configuration.md lacks the default of `{}`", s.key);
        }
    }
}
