//! Configuration, diagnostics and bad input, with the real binary.

mod common;

use common::Herald;
use herald_testkit::ScriptedLlm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_says_exactly_what_to_set() {
    let h = Herald::bare();
    let run = h.run(&["chat", "-q", "hi"]).await;
    assert_eq!(run.code, 1);
    for needle in ["no LLM provider is configured", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HERALD_LLM_BASE_URL"] {
        assert!(run.stderr.contains(needle), "missing {needle:?} in {}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_names_file_key_line_and_changes_nothing() {
    let h = Herald::bare();
    std::fs::write(h.path().join("config.yaml"), "model:\n  default: x\nagent:\n  max_turns: many\n").unwrap();
    let run = h.run(&["sessions", "list"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("config.yaml:4: `agent.max_turns` expects a whole number from 1 to 1000, found `many`"),
        "{}",
        run.stderr
    );
    assert!(!h.db().exists(), "nothing was created");

    std::fs::write(h.path().join("config.yaml"), "model: [\n").unwrap();
    let run = h.run(&["config", "show"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("config.yaml:") && run.stderr.contains("not valid YAML"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_masks_secrets_and_names_origins() {
    let mut h = Herald::bare();
    std::fs::write(h.path().join("config.yaml"), "agent:\n  max_turns: 12\n").unwrap();
    std::fs::write(h.path().join(".env"), "OPENAI_API_KEY=sk-live-abcdefghijklmnop\n").unwrap();
    h.set("HERALD_MODEL", "gpt-test");
    let run = h.run(&["config", "show", "--set", "model.max_tokens=99"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.stdout;
    assert!(!out.contains("abcdefghijklmnop"), "secret leaked:\n{out}");
    assert!(out.contains("sk-…mnop"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("agent.max_turns") && l.contains("12") && l.contains("config.yaml:2")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("model.default") && l.contains("environment HERALD_MODEL")), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("providers.openai.api_key") && l.contains(".env:1 (OPENAI_API_KEY)")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("model.max_tokens")
            && l.contains("99")
            && l.contains("flag --set model.max_tokens")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_home_database_and_provider() {
    let llm = ScriptedLlm::start().await;
    let h = Herald::openai(&llm);
    let run = h.run(&["doctor"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("✓ home directory"));
    assert!(run.stdout.contains("✓ database"));
    assert!(run.stdout.contains("✓ model provider: openai model test-model"), "{}", run.stdout);
    assert_eq!(llm.request_count(), 1);

    let mut dead = Herald::bare();
    dead.set("HERALD_LLM_BASE_URL", "http://127.0.0.1:9/v1");
    dead.set("HERALD_LLM_MAX_RETRIES", "0");
    let run = dead.run(&["doctor"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("✗ model provider") && run.stdout.contains("cannot reach"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_database_is_refused_and_left_alone() {
    let llm = ScriptedLlm::start().await;
    let h = Herald::openai(&llm);
    let garbage = b"this is not a database, it is a grocery list\n".repeat(200);
    std::fs::write(h.db(), &garbage).unwrap();
    let run = h.run(&["chat", "-q", "hi"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("herald.db"), "{}", run.stderr);
    assert_eq!(std::fs::read(h.db()).unwrap(), garbage, "the file is unchanged");
    assert_eq!(llm.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut h = Herald::bare();
    h.set("HERALD_HOME", file.to_str().unwrap());
    let run = h.run(&["sessions", "list"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is not a directory"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_session_ids_are_refused() {
    let h = Herald::bare();
    let run = h.run(&["sessions", "show", "../etc/passwd"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is not a session id"), "{}", run.stderr);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = Herald::bare();
    assert_eq!(h.run(&["sessions", "list"]).await.code, 0);
    let mode = std::fs::metadata(h.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
