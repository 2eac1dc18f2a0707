//! `herald gateway run` end to end: the real binary on a free port, the scripted LLM
//! behind it, and an HTTP client in front.

mod common;

use std::time::Duration;

use common::gateway::{Gateway, STOP_WITHIN};
use common::{Herald, free_port};
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::Reply;
use serde_json::{Value, json};

/// The `API_SERVER_KEY=` lines of `.env`.
fn stored_keys(h: &Herald) -> Vec<String> {
    let text = std::fs::read_to_string(h.path().join(".env")).expect("read .env");
    text.lines().filter_map(|l| l.strip_prefix("API_SERVER_KEY=")).map(str::to_owned).collect()
}

fn state_file(h: &Herald) -> Value {
    let bytes = std::fs::read(h.path().join("gateway_state.json")).expect("gateway_state.json exists");
    serde_json::from_slice(&bytes).expect("gateway_state.json is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_generates_a_private_key_and_later_starts_reuse_it() {
    let llm = ScriptedLlm::start().await;
    let mut h = Herald::openai(&llm);
    let mut gateway = Gateway::start(&mut h, &[]).await;

    let keys = stored_keys(&h);
    assert_eq!(keys.len(), 1, "one key stored");
    let key = keys[0].clone();
    assert!(key.starts_with("hk_") && key.len() >= 32, "a strong key: {} characters", key.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.path().join(".env")).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, ".env holds secrets");
    }
    let stderr = gateway.daemon.stderr();
    assert!(stderr.contains(".env") && stderr.contains("API_SERVER_KEY"), "says where the key is:\n{stderr}");
    assert!(!stderr.contains(&key), "the key is not printed when stderr is not a terminal:\n{stderr}");

    let models = gateway.http.get(format!("{}/v1/models", gateway.base)).bearer_auth(&key).send().await.expect("get");
    assert_eq!(models.status(), 200);
    let wrong = gateway.http.get(format!("{}/v1/models", gateway.base)).bearer_auth("hk_wrong-key-0123456789").send();
    assert_eq!(wrong.await.expect("get").status(), 401);
    assert_eq!(gateway.stop().await, 0);

    let mut again = Gateway::start(&mut h, &[]).await;
    assert_eq!(stored_keys(&h), std::slice::from_ref(&key), "the stored key is reused, not replaced");
    assert!(!again.daemon.stderr().contains("generated"), "{}", again.daemon.stderr());
    let models = again.http.get(format!("{}/v1/models", again.base)).bearer_auth(&key).send().await.expect("get");
    assert_eq!(models.status(), 200);
    assert_eq!(again.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_key_is_refused_with_the_minimum() {
    let llm = ScriptedLlm::start().await;
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_KEY", "tooshort");
    h.set("API_SERVER_PORT", &free_port().to_string());
    let run = h.run(&["gateway", "run"]).await;
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("API_SERVER_KEY") && run.stderr.contains("16"), "{}", run.stderr);
    assert!(!run.stderr.contains("tooshort"), "the key is never echoed: {}", run.stderr);
    let state = state_file(&h);
    assert_eq!(state["gateway_state"], "startup_failed");
    assert!(state["exit_reason"].as_str().expect("reason").contains("API_SERVER_KEY"), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_a_chat_completion_are_served_and_the_turn_is_stored() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Hello from the scripted model."));
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_KEY", "a-configured-key-0123456789");
    let mut gateway = Gateway::start(&mut h, &[]).await;

    let health = gateway.http.get(format!("{}/health", gateway.base)).send().await.expect("health");
    assert_eq!(health.status(), 200);
    let stderr = gateway.daemon.stderr();
    assert!(stderr.contains(&format!("listening on {}", gateway.base)), "{stderr}");
    let state = state_file(&h);
    assert_eq!(state["gateway_state"], "running");
    assert_eq!(state["platforms"]["api_server"]["state"], "connected");
    assert_eq!(state["pid"], gateway.daemon.pid());

    let response = gateway.chat("a-configured-key-0123456789", "Hi there").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from the scripted model.", "{body}");
    assert_eq!(llm.last_request().expect("the model was called").body["model"], "test-model");
    assert_eq!(gateway.stop().await, 0);
    assert_eq!(state_file(&h)["gateway_state"], "stopped");
    assert_eq!(state_file(&h)["exit_reason"], "SIGTERM");

    let list = h.run(&["sessions", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let row = list.stdout.lines().find(|l| l.contains("api_server")).unwrap_or_else(|| panic!("{}", list.stdout));
    let id = row.split_whitespace().next().expect("id");
    assert!(id.starts_with("api-"), "{row}");
    let show = h.run(&["sessions", "show", id]).await;
    assert!(
        show.stdout.contains("Hi there") && show.stdout.contains("Hello from the scripted model."),
        "{}",
        show.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_turn_finish_refuses_new_ones_and_exits_75_as_unplanned() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Worth the wait.").delayed(Duration::from_secs(2)));
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_KEY", "a-configured-key-0123456789");
    h.set("HERALD_DRAIN_TIMEOUT", "20");
    let mut gateway = Gateway::start(&mut h, &[]).await;

    let slow = {
        let (http, base) = (gateway.http.clone(), gateway.base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/v1/chat/completions"))
                .bearer_auth("a-configured-key-0123456789")
                .json(&json!({"messages": [{"role": "user", "content": "take your time"}]}))
                .send()
                .await
        })
    };
    assert!(llm.wait_for_requests(1, Duration::from_secs(10)).await, "the slow turn reached the model");
    gateway.daemon.signal("TERM");

    // New work is refused while the running turn finishes.
    let mut refused = None;
    for _ in 0..100 {
        let response = gateway.chat("a-configured-key-0123456789", "one more?").await;
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a request during the drain gets 503");
    assert_eq!(refused.headers().get("retry-after").map(|v| v.to_str().unwrap_or("")), Some("1"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "gateway_draining", "{body}");
    assert_eq!(state_file(&h)["gateway_state"], "draining");

    let finished = slow.await.expect("task").expect("the in-flight request completes");
    assert_eq!(finished.status(), 200);
    let body: Value = finished.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Worth the wait.");

    // Nobody announced this SIGTERM (no `herald gateway stop`): 75, so a supervisor restarts it.
    assert_eq!(gateway.daemon.wait(STOP_WITHIN).await, 75, "{}", gateway.daemon.stderr());
    assert_eq!(state_file(&h)["gateway_state"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_named_with_the_variable_to_change() {
    let llm = ScriptedLlm::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut h = Herald::openai(&llm);
    h.set("API_SERVER_PORT", &port.to_string());
    let run = h.run(&["gateway", "run"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("127.0.0.1:{port}")), "{}", run.stderr);
    assert!(run.stderr.contains("API_SERVER_PORT"), "{}", run.stderr);
    assert!(run.stderr.contains("already in use"), "{}", run.stderr);
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_machine_starts_without_a_provider_and_turns_say_what_to_set() {
    let mut h = Herald::bare();
    let home = h.path().join("fresh-home");
    h.set("HERALD_HOME", &home.display().to_string());
    let mut gateway = Gateway::start(&mut h, &["--log-format", "json"]).await;

    assert!(home.join("herald.db").exists(), "the store was created");
    let env = std::fs::read_to_string(home.join(".env")).expect(".env");
    let key = env.lines().find_map(|l| l.strip_prefix("API_SERVER_KEY=")).expect("a generated key").to_owned();

    let response = gateway.chat(&key, "hello?").await;
    assert!(response.status().is_server_error(), "{}", response.status());
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("OPENAI_API_KEY"), "the error names what to set: {body}");

    assert_eq!(gateway.stop().await, 0);
    let stderr = gateway.daemon.stderr();
    let logs: Vec<Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        logs.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("listening on http://127.0.0.1:"))),
        "JSON log lines:\n{stderr}"
    );
    assert!(logs.iter().any(|l| l["level"] == "WARN"), "the missing provider is warned about:\n{stderr}");
    assert!(!stderr.contains(&key), "the key never reaches the logs");
}
