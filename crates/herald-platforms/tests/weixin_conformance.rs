//! The real WeChat adapter through the adapter conformance suite, against the fake
//! iLink server of herald-testkit. A binary of its own, so the suite does not share
//! the machine with the other WeChat tests.

#![cfg(feature = "weixin")]

use std::sync::Arc;

use herald_core::config::ConfigLoader;
use herald_core::{Adapter, AdapterState};
use herald_platforms::weixin::{WeixinAccount, WeixinAdapter, WeixinSettings};
use herald_testkit::MemState;
use herald_testkit::conformance;
use herald_testkit::weixin::{FakeWeixin, WeixinHarness};

fn adapter(wx: &FakeWeixin, cache: &std::path::Path) -> Arc<dyn Adapter> {
    let mut loader = ConfigLoader::new();
    loader.env([
        ("WEIXIN_ACCOUNT_ID", wx.bot_id().to_string()),
        ("WEIXIN_BASE_URL", wx.base_url()),
        ("WEIXIN_CDN_BASE_URL", wx.cdn_base_url()),
        ("WEIXIN_SEND_CHUNK_DELAY_SECONDS", "0".to_string()),
        ("WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS", "0.01".to_string()),
        // The rate-limit check sends again right after the flood: the circuit must
        // not stay open.
        ("WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS", "0".to_string()),
    ]);
    let config = loader.build().expect("the test configuration loads").config.weixin;
    let account = WeixinAccount {
        account_id: wx.bot_id().to_string(),
        token: wx.token().to_string(),
        base_url: wx.base_url(),
        user_id: None,
    };
    let state: Arc<dyn AdapterState> = Arc::new(MemState::default());
    let settings = WeixinSettings::new(config, account, cache.to_path_buf(), 1024 * 1024, state);
    Arc::new(WeixinAdapter::new(settings).expect("the adapter builds"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weixin_adapter_passes_the_conformance_suite() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let wx = FakeWeixin::start().await;
    let cache = tempfile::tempdir().unwrap();
    let report = conformance::run_all(adapter(&wx, cache.path()), &WeixinHarness::new(&wx)).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), 12, "{report}");
    let v = wx.violations();
    assert!(v.is_empty(), "the fake refused malformed requests: {v:#?}");
}
