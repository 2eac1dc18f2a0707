//! The gateway's lifecycle with the real binary: one gateway per home, `--replace`,
//! planned and unplanned stops and their exit codes, `gateway status`, and the systemd
//! unit of `gateway install`.

mod common;

use common::Herald;
use common::gateway::{Gateway, STOP_WITHIN};
use serde_json::Value;

fn read_json(h: &Herald, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(h.path().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}")))
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_home_is_refused_and_changes_nothing() {
    let mut h = Herald::bare();
    let mut gateway = Gateway::start(&mut h, &[]).await;
    let pid = gateway.daemon.pid();
    let before = std::fs::read(h.path().join("gateway_state.json")).expect("state");

    let second = h.run(&["gateway", "run"]).await;
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("another herald gateway (pid {pid}) is already running")),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("--replace"), "{}", second.stderr);
    assert_eq!(
        std::fs::read(h.path().join("gateway_state.json")).expect("state"),
        before,
        "the state file is untouched"
    );
    assert_eq!(read_json(&h, "gateway.pid")["pid"], pid);

    assert_eq!(gateway.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_takes_over_and_the_old_gateway_exits_zero() {
    let mut h = Herald::bare();
    let mut old = Gateway::start(&mut h, &[]).await;
    let old_pid = old.daemon.pid();

    let mut new = Gateway::start(&mut h, &["--replace"]).await;
    let new_pid = new.daemon.pid();
    assert_eq!(old.daemon.wait(STOP_WITHIN).await, 0, "a takeover is a planned stop: {}", old.daemon.stderr());
    assert!(old.daemon.stderr().contains(&format!("taken over by pid {new_pid}")), "{}", old.daemon.stderr());
    assert!(
        new.daemon.stderr().contains(&format!("taking over from the gateway with pid {old_pid}")),
        "{}",
        new.daemon.stderr()
    );

    // The new one answers and owns the files.
    let health = new.http.get(format!("{}/health", new.base)).send().await.expect("health");
    assert_eq!(health.status(), 200);
    let pid_file = read_json(&h, "gateway.pid");
    assert_eq!(pid_file["pid"], new_pid);
    assert_eq!(pid_file["kind"], "herald-gateway");
    assert!(pid_file["argv"].as_array().is_some_and(|a| a.iter().any(|v| v == "--replace")), "{pid_file}");
    assert!(!h.path().join(".gateway-takeover.json").exists(), "the old gateway consumed the marker");

    assert_eq!(new.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_stop_is_a_planned_stop_and_a_bare_sigterm_is_not() {
    let mut h = Herald::bare();
    let mut gateway = Gateway::start(&mut h, &[]).await;
    let pid = gateway.daemon.pid();

    let status = h.run(&["gateway", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains(&format!("herald gateway: running (pid {pid})")), "{}", status.stdout);
    assert!(status.stdout.contains("state: running"), "{}", status.stdout);
    assert!(status.stdout.contains("api_server") && status.stdout.contains("connected"), "{}", status.stdout);

    let stop = h.run(&["gateway", "stop"]).await;
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(stop.stdout.contains(&format!("stopped (pid {pid})")), "{}", stop.stdout);
    assert_eq!(gateway.daemon.wait(STOP_WITHIN).await, 0, "{}", gateway.daemon.stderr());
    assert!(gateway.daemon.stderr().contains("planned stop requested by pid"), "{}", gateway.daemon.stderr());
    assert!(!h.path().join(".gateway-planned-stop.json").exists(), "the marker was consumed");
    assert!(!h.path().join("gateway.pid").exists(), "the pid file goes with the process");
    assert!(h.path().join(".clean_shutdown").exists(), "the drain finished: a clean shutdown");

    let status = h.run(&["gateway", "status"]).await;
    assert_eq!(status.code, 3, "{}", status.stdout);
    assert!(status.stdout.contains("herald gateway: stopped"), "{}", status.stdout);
    assert!(status.stdout.contains("last state: stopped (SIGTERM)"), "{}", status.stdout);
    let stop_again = h.run(&["gateway", "stop"]).await;
    assert_eq!(stop_again.code, 0, "stopping a stopped gateway is not an error: {}", stop_again.stderr);
    assert!(stop_again.stdout.contains("not running"), "{}", stop_again.stdout);

    // The next start consumes the clean-shutdown marker; a SIGTERM nobody announced exits 75.
    let mut gateway = Gateway::start(&mut h, &[]).await;
    assert!(!h.path().join(".clean_shutdown").exists(), "consumed at startup");
    gateway.daemon.signal("TERM");
    assert_eq!(gateway.daemon.wait(STOP_WITHIN).await, 75, "{}", gateway.daemon.stderr());
    assert_eq!(read_json(&h, "gateway_state.json")["gateway_state"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_is_a_planned_stop() {
    let mut h = Herald::bare();
    let mut gateway = Gateway::start(&mut h, &[]).await;
    gateway.daemon.signal("INT");
    assert_eq!(gateway.daemon.wait(STOP_WITHIN).await, 0, "{}", gateway.daemon.stderr());
}

#[tokio::test]
async fn install_print_writes_a_unit_for_this_binary_and_home_that_systemd_accepts() {
    let h = Herald::bare();
    let printed = h.run(&["gateway", "install", "--print"]).await;
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    let unit = printed.stdout;
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_herald")).canonicalize().expect("exe");
    let home = h.path().display().to_string();
    assert!(unit.contains(&format!("ExecStart=\"{}\" --home \"{home}\" gateway run\n", exe.display())), "{unit}");
    assert!(unit.contains(&format!("ExecStop=\"{}\" --home \"{home}\" gateway stop\n", exe.display())), "{unit}");
    assert!(unit.contains(&format!("Environment=\"HERALD_HOME={home}\"\n")), "{unit}");
    assert!(unit.contains("Restart=on-failure\n"), "{unit}");
    assert!(unit.contains("RestartPreventExitStatus=\n"), "{unit}");
    assert!(unit.contains("[Install]\nWantedBy=default.target\n"), "{unit}");
    assert!(!h.path().join(".config").exists(), "--print writes nothing");

    // Written where `systemctl --user` looks (HOME is the test home here).
    let install = h.run(&["gateway", "install"]).await;
    assert_eq!(install.code, 0, "{}", install.stderr);
    let path = h.path().join(".config/systemd/user/herald-gateway.service");
    assert_eq!(std::fs::read_to_string(&path).expect("unit written"), unit);
    assert!(
        install.stdout.contains("systemctl --user daemon-reload && systemctl --user enable --now herald-gateway"),
        "{}",
        install.stdout
    );
    std::fs::write(&path, "[Unit]\nDescription=edited by hand\n").expect("edit");
    let refused = h.run(&["gateway", "install"]).await;
    assert_eq!(refused.code, 1, "a different unit is not replaced silently");
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(h.run(&["gateway", "install", "--force"]).await.code, 0);
    assert_eq!(std::fs::read_to_string(&path).expect("unit"), unit);

    // systemd's own check, where it exists. System mode: the user manager needs a
    // session this test does not have; the unit's syntax and ExecStart are checked alike.
    match std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output() {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("note: systemd-analyze is not available ({e}); the unit was not verified by systemd"),
    }
}
