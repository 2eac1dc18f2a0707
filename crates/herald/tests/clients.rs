//! The official `openai` clients (Python from PyPI, JavaScript from npm) against the real
//! `herald gateway run`: existing OpenAI/Hermes API clients must work unchanged, and
//! errors must surface as the SDKs' own exception types.
//!
//! The clients are installed by `scripts/install-test-peers.sh` (which `scripts/test.sh`
//! runs first and exports as `HERALD_TEST_*`); run standalone, the test calls it itself.

mod common;

use std::path::{Path, PathBuf};

use common::Herald;
use common::gateway::Gateway;
use herald_testkit::ScriptedLlm;

const KEY: &str = "client-test-key-0123456789";

struct Peers {
    python: String,
    node: String,
    node_dir: String,
}

/// The crate's directory, read when the test runs: cargo sets it then, and the compile-time
/// value goes stale when the same target directory serves a checkout in another place.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn workspace() -> PathBuf {
    manifest_dir().join("../..")
}

fn peers() -> Peers {
    if let (Ok(python), Ok(node), Ok(node_dir)) =
        (std::env::var("HERALD_TEST_PYTHON"), std::env::var("HERALD_TEST_NODE"), std::env::var("HERALD_TEST_NODE_DIR"))
    {
        return Peers { python, node, node_dir };
    }
    let out = std::process::Command::new(workspace().join("scripts/install-test-peers.sh"))
        .output()
        .expect("run scripts/install-test-peers.sh");
    assert!(out.status.success(), "installing the test peers failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("install-test-peers.sh printed no {name}=: {text}"))
            .to_string()
    };
    Peers { python: get("python"), node: get("node"), node_dir: get("node_dir") }
}

async fn run_client(mut cmd: tokio::process::Command, gateway: &Gateway) -> String {
    cmd.env("HERALD_BASE_URL", format!("{}/v1", gateway.base))
        .env("HERALD_KEY", KEY)
        .env("HERALD_MODEL_ID", "hermes-agent")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the client finished within two minutes")
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "client checks failed:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn assert_all_checks_passed(stdout: &str) {
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_eq!(passed, 13, "every check ran:\n{stdout}");
}

async fn gateway(llm: &ScriptedLlm) -> (Herald, Gateway) {
    let mut h = Herald::openai(llm);
    h.set("API_SERVER_KEY", KEY);
    let gateway = Gateway::start(&mut h, &[]).await;
    (h, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_works_unchanged() {
    let peers = peers();
    let llm = ScriptedLlm::start().await;
    let (_home, mut gateway) = gateway(&llm).await;
    let mut cmd = tokio::process::Command::new(&peers.python);
    cmd.arg(workspace().join("crates/herald/tests/clients/openai_client.py"));
    let stdout = run_client(cmd, &gateway).await;
    assert_all_checks_passed(&stdout);
    assert_eq!(gateway.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_javascript_client_works_unchanged() {
    let peers = peers();
    let llm = ScriptedLlm::start().await;
    let (_home, mut gateway) = gateway(&llm).await;
    // ES modules resolve packages from the script's own directory, so the script runs
    // from inside the directory where the client is installed.
    let script = Path::new(&peers.node_dir).join(format!("herald-client-{}.mjs", std::process::id()));
    std::fs::copy(workspace().join("crates/herald/tests/clients/openai_client.mjs"), &script).expect("copy script");
    let mut cmd = tokio::process::Command::new(&peers.node);
    cmd.arg(&script).current_dir(&peers.node_dir);
    let stdout = run_client(cmd, &gateway).await;
    let _ = std::fs::remove_file(&script);
    assert_all_checks_passed(&stdout);
    assert_eq!(gateway.stop().await, 0);
}
