//! Waiting on a fake server's state: checked at once and after every change.

use std::time::Duration;

use tokio::sync::Notify;

/// Waits until `done` holds, checking it at once and each time `changed` is notified.
/// Returns `false` if `within` passes first. The notification is armed before each
/// check, so a change between the check and the wait is never missed.
pub(crate) async fn wait_until(changed: &Notify, mut done: impl FnMut() -> bool, within: Duration) -> bool {
    let wait = async {
        loop {
            let next = changed.notified();
            tokio::pin!(next);
            next.as_mut().enable();
            if done() {
                return;
            }
            next.await;
        }
    };
    tokio::time::timeout(within, wait).await.is_ok()
}
