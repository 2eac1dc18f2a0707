//! `herald pairing` with the real binary against a throwaway home. The gateway's side
//! (issuing a code to an unknown user) is played by the store directly.

mod common;

use common::Herald;
use herald_store::{PairingRequest, SqliteStore, Store};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Issues a code the way the gateway does when an unknown user writes to the bot.
async fn issue_code(h: &Herald, user: &str, name: &str) -> String {
    std::fs::create_dir_all(h.path()).unwrap();
    let db = h.db();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&db)).await.unwrap().unwrap();
    match store.pairing_request("telegram", user, Some(name), now_ms()).await.unwrap() {
        PairingRequest::Code(code) => code,
        other => panic!("expected a code, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_list_revoke_and_clear_pending() {
    let h = Herald::bare();
    let empty = h.run(&["pairing", "list"]).await;
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert!(empty.stdout.contains("No pending pairing codes.") && empty.stdout.contains("No approved users."));

    let code = issue_code(&h, "4242", "ada").await;
    let list = h.run(&["pairing", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("Pending codes (1)") && list.stdout.contains("4242"), "{}", list.stdout);
    assert!(!list.stdout.contains(&code), "the code itself is never shown: {}", list.stdout);

    // Case and surrounding spaces do not matter.
    let lower = format!(" {} ", code.to_lowercase());
    let ok = h.run(&["pairing", "approve", "Telegram", &lower]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("Approved telegram user 4242 (ada)"), "{}", ok.stdout);

    let list = h.run(&["pairing", "list"]).await;
    assert!(list.stdout.contains("No pending pairing codes.") && list.stdout.contains("Approved users (1)"));
    assert!(list.stdout.contains("4242") && list.stdout.contains("ada"), "{}", list.stdout);

    // A used code does not work twice.
    let again = h.run(&["pairing", "approve", "telegram", &code]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains(&format!("no pending code {code} on telegram")), "{}", again.stderr);

    let revoke = h.run(&["pairing", "revoke", "telegram", "4242"]).await;
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    assert!(revoke.stdout.contains("Revoked telegram user 4242"), "{}", revoke.stdout);
    let twice = h.run(&["pairing", "revoke", "telegram", "4242"]).await;
    assert_eq!(twice.code, 1);
    assert!(twice.stderr.contains("telegram user 4242 is not approved"), "{}", twice.stderr);

    issue_code(&h, "1", "a").await;
    issue_code(&h, "2", "b").await;
    let cleared = h.run(&["pairing", "clear-pending"]).await;
    assert_eq!(cleared.code, 0, "{}", cleared.stderr);
    assert!(cleared.stdout.contains("Removed 2 pending pairing codes."), "{}", cleared.stdout);
    assert!(h.run(&["pairing", "list"]).await.stdout.contains("No pending pairing codes."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_input_and_the_fix_and_changes_nothing() {
    let h = Herald::bare();
    let code = issue_code(&h, "7", "bo").await;

    for (args, needles) in [
        (vec!["pairing", "approve", "telegram", "abc"], vec!["`abc` is not a pairing code", "2-9"]),
        (vec!["pairing", "approve", "telegram", "ABCD1234"], vec!["`ABCD1234` is not a pairing code"]),
        (vec!["pairing", "approve", "tele gram", &code], vec!["`tele gram` is not a platform name", "telegram"]),
        (vec!["pairing", "revoke", "telegram", " "], vec!["is not a user id", "herald pairing list"]),
    ] {
        let run = h.run(&args).await;
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        for n in needles {
            assert!(run.stderr.contains(n), "{args:?}: missing {n:?} in {}", run.stderr);
        }
        assert!(!run.stderr.contains("panicked"));
    }

    // Malformed codes never reached the store, so five of them do not lock the platform
    // and the live code still works.
    for _ in 0..5 {
        assert_eq!(h.run(&["pairing", "approve", "telegram", "0000"]).await.code, 1);
    }
    let ok = h.run(&["pairing", "approve", "telegram", &code]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);

    // Missing arguments are clap's usage error.
    let usage = h.run(&["pairing", "approve", "telegram"]).await;
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("CODE"), "{}", usage.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_the_platform_with_a_clear_message() {
    let h = Herald::bare();
    let code = issue_code(&h, "9", "cy").await;
    let wrong = if code == "AAAAAAAA" { "BBBBBBBB" } else { "AAAAAAAA" };
    for _ in 0..5 {
        let run = h.run(&["pairing", "approve", "telegram", wrong]).await;
        assert_eq!(run.code, 1);
    }
    let locked = h.run(&["pairing", "approve", "telegram", &code]).await;
    assert_eq!(locked.code, 1);
    assert!(locked.stderr.contains("pairing on telegram is locked"), "{}", locked.stderr);
}
