//! Fails when a crate depends on one of ours that the architecture forbids
//! (`shared/design/ARCHITECTURE.md`, "Crates and who may import whom"), or when a crate
//! other than the binary and the gateway pulls in a second SQLite binding.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which of our crates each crate may use as a normal dependency.
/// herald-testkit may additionally appear as a dev-dependency anywhere.
const ALLOWED: &[(&str, &[&str])] = &[
    ("herald-core", &[]),
    ("herald-store", &["herald-core"]),
    ("herald-agent", &["herald-core"]),
    ("herald-platforms", &["herald-core"]),
    ("herald-gateway", &["herald-core", "herald-store", "herald-agent"]),
    ("herald-web", &["herald-core"]),
    ("herald-relay", &["herald-core"]),
    ("herald-cloud", &["herald-core", "herald-store"]),
    ("herald-testkit", &["herald-core"]),
    (
        "herald",
        &[
            "herald-core",
            "herald-store",
            "herald-agent",
            "herald-platforms",
            "herald-gateway",
            "herald-web",
            "herald-relay",
            "herald-cloud",
        ],
    ),
];

/// SQLite bindings other than rusqlite, which must never enter the graph.
const OTHER_SQLITE: &[&str] = &["sqlx", "sqlite", "libsql", "diesel", "sea-orm", "turso"];

/// The crate's directory, read when the test runs: cargo sets it then, and the compile-time
/// value goes stale when the same target directory serves a checkout in another place.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn workspace_root() -> PathBuf {
    manifest_dir().join("../..").canonicalize().expect("workspace root")
}

fn manifests() -> BTreeMap<String, toml::Table> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(workspace_root().join("crates")).expect("crates dir") {
        let path = entry.expect("dir entry").path().join("Cargo.toml");
        if !path.exists() {
            continue;
        }
        let table: toml::Table =
            std::fs::read_to_string(&path).expect("read manifest").parse().expect("parse manifest");
        let name = table["package"]["name"].as_str().expect("package name").to_string();
        out.insert(name, table);
    }
    out
}

fn deps(table: &toml::Table, section: &str) -> Vec<String> {
    table.get(section).and_then(|d| d.as_table()).map(|d| d.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn every_crate_is_in_the_layering_table() {
    for name in manifests().keys() {
        assert!(
            ALLOWED.iter().any(|(n, _)| n == name),
            "crate {name} is not in the architecture table; add it to ARCHITECTURE.md and this test"
        );
    }
}

#[test]
fn crates_import_only_what_the_architecture_allows() {
    let mut violations = Vec::new();
    for (name, table) in manifests() {
        let allowed = ALLOWED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).unwrap_or(&[]);
        for section in ["dependencies", "build-dependencies"] {
            for dep in deps(&table, section) {
                if dep.starts_with("herald") && !allowed.contains(&dep.as_str()) {
                    violations.push(format!("{name} [{section}] depends on {dep}"));
                }
            }
        }
        for dep in deps(&table, "dev-dependencies") {
            if dep.starts_with("herald") && dep != "herald-testkit" && !allowed.contains(&dep.as_str()) {
                violations.push(format!("{name} [dev-dependencies] depends on {dep}"));
            }
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn only_rusqlite_speaks_sqlite() {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).expect("Cargo.lock");
    let lock: toml::Table = lock.parse().expect("parse Cargo.lock");
    let names: Vec<&str> =
        lock["package"].as_array().expect("packages").iter().filter_map(|p| p["name"].as_str()).collect();
    for other in OTHER_SQLITE {
        assert!(!names.contains(other), "{other} is in Cargo.lock: rusqlite must be the only SQLite binding");
    }
    assert_eq!(names.iter().filter(|n| **n == "libsqlite3-sys").count(), 1, "exactly one libsqlite3-sys");
}

#[test]
fn core_does_no_io() {
    let core = workspace_root().join("crates/herald-core/src");
    let mut offenders = Vec::new();
    let mut stack = vec![core];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                for needle in ["std::fs", "std::net", "tokio", "reqwest", "std::process", "std::env::var"] {
                    if text.contains(needle) {
                        offenders.push(format!("{} uses {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "herald-core must not do I/O:\n{}", offenders.join("\n"));
}
