//! The real Telegram adapter through the adapter conformance suite, against the fake
//! Telegram Bot API server of herald-testkit.

#![cfg(feature = "telegram")]

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::{ConfigLoader, TelegramConfig};
use herald_core::{Adapter, InboundSink, MediaKind};
use herald_platforms::telegram::{TelegramAdapter, TelegramSettings};
use herald_testkit::conformance::{self, Running, WAIT};
use herald_testkit::telegram::{FakeTelegram, TelegramHarness, TgUser};

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn config(tg: &FakeTelegram) -> TelegramConfig {
    let mut loader = ConfigLoader::new();
    loader.env([("TELEGRAM_BOT_TOKEN", tg.token().to_string()), ("TELEGRAM_API_BASE_URL", tg.base_url())]);
    loader.build().expect("the test configuration loads").config.telegram
}

fn adapter(tg: &FakeTelegram, cache: &std::path::Path) -> Arc<dyn Adapter> {
    let mut settings = TelegramSettings::new(config(tg), cache.to_path_buf(), 20 * 1024 * 1024);
    // Short long polls so a listener the suite stops is not left waiting long on the server.
    settings.poll_timeout = Duration::from_secs(2);
    Arc::new(TelegramAdapter::new(settings).expect("the adapter builds"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_adapter_passes_the_conformance_suite() {
    crypto();
    let tg = FakeTelegram::start().await;
    let cache = tempfile::tempdir().unwrap();
    let report = conformance::run_all(adapter(&tg, cache.path()), &TelegramHarness::new(&tg)).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), 12, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_downloaded_to_the_cache_before_delivery() {
    crypto();
    let tg = FakeTelegram::start().await;
    let cache = tempfile::tempdir().unwrap();
    let adapter = adapter(&tg, cache.path());
    let mut running = Running::start(&adapter);
    let alice = TgUser::new(4242, "Alice");
    let (injected, file) = tg.private_photo(&alice, b"\xff\xd8\xff fake jpeg bytes".to_vec(), Some("look"));
    let got = running.next_in_chat("4242", WAIT).await.unwrap();
    assert_eq!(got.message_id, injected.message_id.map(|m| m.to_string()));
    assert_eq!(got.text, "look");
    assert_eq!(got.media.len(), 1, "{got:?}");
    assert_eq!(got.media[0].kind, MediaKind::Photo);
    assert_eq!(std::fs::read(&got.media[0].path).unwrap(), b"\xff\xd8\xff fake jpeg bytes");
    assert_eq!(got.media[0].size, file.file_size);
    assert!(got.media[0].path.starts_with(cache.path()));
    // The adapter asked for the file by the id in the update.
    let calls = tg.calls_of("getFile");
    assert_eq!(calls[0].params["file_id"], file.file_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_fatal() {
    crypto();
    let tg = FakeTelegram::start().await;
    let mut cfg = config(&tg);
    cfg.bot_token = Some("999:wrong-token".into());
    let cache = tempfile::tempdir().unwrap();
    let adapter = TelegramAdapter::new(TelegramSettings::new(cfg, cache.path().to_path_buf(), 1024)).unwrap();
    struct NoSink;
    #[async_trait::async_trait]
    impl InboundSink for NoSink {
        async fn deliver(&self, _: herald_core::Inbound) -> Result<herald_core::Accepted, herald_core::SinkError> {
            unreachable!("nothing is delivered with a refused token")
        }
        fn connected(&self, _: Option<String>) {}
    }
    let err = adapter.run(Arc::new(NoSink)).await.unwrap_err();
    assert!(matches!(err, herald_core::AdapterError::Fatal(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-token"), "{err}");
}
