//! The typing indicator: a `typing_ticket` per peer from `getconfig`, cached for
//! Hermes's 600 s, then `sendtyping` (§B.8, §12.8). A ticket the server refuses is
//! dropped and fetched once more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api::{Api, ApiError};

/// How long a ticket is reused (Hermes).
pub const TICKET_TTL: Duration = Duration::from_secs(600);

/// `sendtyping` status values.
pub const TYPING_START: u8 = 1;
pub const TYPING_STOP: u8 = 2;

#[derive(Default)]
pub struct Tickets {
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tickets {
    fn cached(&self, peer: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(peer).filter(|(_, at)| at.elapsed() < TICKET_TTL).map(|(t, _)| t.clone())
    }

    fn forget(&self, peer: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(peer);
    }

    async fn fetch(&self, api: &Api, peer: &str, context_token: Option<&str>) -> Result<String, ApiError> {
        let answer = api.get_config(peer, context_token).await?;
        let ticket = answer.typing_ticket.filter(|t| !t.is_empty()).ok_or(ApiError::Ret {
            endpoint: "getconfig",
            code: 0,
            errmsg: "no typing_ticket in the answer".into(),
        })?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(peer.to_string(), (ticket.clone(), Instant::now()));
        Ok(ticket)
    }

    /// Shows (`TYPING_START`) or cancels (`TYPING_STOP`) the indicator for `peer`.
    pub async fn send(&self, api: &Api, peer: &str, context_token: Option<&str>, status: u8) -> Result<(), ApiError> {
        let (ticket, fresh) = match self.cached(peer) {
            Some(t) => (t, false),
            None => (self.fetch(api, peer, context_token).await?, true),
        };
        match api.send_typing(peer, &ticket, status).await {
            Ok(()) => Ok(()),
            Err(e @ ApiError::Ret { .. }) if !fresh => {
                // The cached ticket may have expired on the server's side.
                tracing::debug!(error = %e, "typing ticket refused; fetching a new one");
                self.forget(peer);
                let ticket = self.fetch(api, peer, context_token).await?;
                api.send_typing(peer, &ticket, status).await
            }
            Err(e) => Err(e),
        }
    }
}
