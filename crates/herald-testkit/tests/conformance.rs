//! The conformance suite itself: adapters that break the contract fail the checks that
//! cover it (so a passing real adapter means something).

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::{
    Adapter, AdapterError, Capabilities, InboundSink, LengthUnit, OutboundOp, Platform, SendError, Sent, Target,
};
use herald_testkit::conformance;
use herald_testkit::telegram::{FakeTelegram, TelegramHarness};

/// Answers every operation with success and does nothing; its listener fails at once.
struct Hollow {
    caps: Capabilities,
    /// Answer `Unsupported` for what the capabilities leave out (an honest adapter).
    honest: bool,
}

#[async_trait]
impl Adapter for Hollow {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn run(&self, _sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        Err(AdapterError::Fatal("this adapter cannot listen".into()))
    }

    async fn send(&self, _target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        let declared = match op {
            OutboundOp::Send { .. } => true,
            OutboundOp::Edit { .. } => self.caps.edit,
            OutboundOp::Delete { .. } => self.caps.delete,
            OutboundOp::Draft { .. } => self.caps.draft_in_dm,
            OutboundOp::Typing => self.caps.typing,
            OutboundOp::SendMedia { .. } => self.caps.media,
        };
        if self.honest && !declared {
            return Err(SendError::Unsupported("not declared"));
        }
        Ok(Sent { message_id: Some("1".into()), fell_back_to_plain: false })
    }
}

fn caps(all: bool) -> Capabilities {
    Capabilities {
        max_message_len: 4096,
        length_unit: LengthUnit::Utf16,
        edit: all,
        delete: all,
        draft_in_dm: all,
        typing: all,
        media: all,
        fallback_on_final_edit_flood: false,
    }
}

fn failed(report: &conformance::Report) -> Vec<&'static str> {
    report.failed.iter().map(|(name, _)| *name).collect()
}

#[tokio::test]
async fn an_adapter_that_does_nothing_fails_every_check() {
    let tg = FakeTelegram::start().await;
    let adapter: Arc<dyn Adapter> = Arc::new(Hollow { caps: caps(true), honest: true });
    let report = conformance::run_all(adapter, &TelegramHarness::new(&tg)).await;
    assert!(report.passed.is_empty(), "{report}");
    assert_eq!(report.failed.len(), 12, "{report}");
    let (_, why) = &report.failed[0];
    assert!(why.contains("fatal error: this adapter cannot listen"), "{why}");
}

#[tokio::test]
async fn undeclared_operations_must_be_unsupported() {
    let tg = FakeTelegram::start().await;
    let honest: Arc<dyn Adapter> = Arc::new(Hollow { caps: caps(false), honest: true });
    let report = conformance::run_all(honest, &TelegramHarness::new(&tg)).await;
    // Declaring nothing and saying Unsupported is truthful for these five.
    for name in ["edit", "delete", "typing", "draft", "media"] {
        assert!(report.passed.contains(&name), "{name}: {report}");
    }
    let liar: Arc<dyn Adapter> = Arc::new(Hollow { caps: caps(false), honest: false });
    let report = conformance::run_all(liar, &TelegramHarness::new(&tg)).await;
    for name in ["edit", "delete", "typing", "draft", "media"] {
        assert!(failed(&report).contains(&name), "{name}: {report}");
    }
    assert!(report.failed.iter().any(|(_, why)| why.contains("declare no edit")), "{report}");
}
