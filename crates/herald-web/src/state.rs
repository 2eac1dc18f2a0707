//! What every handler shares.

use std::sync::Arc;

use herald_core::backend::{Backend, BackendError};
use herald_core::login::Logins;

use crate::ApiConfig;
use crate::auth::ApiKey;
use crate::cors::CorsPolicy;
use crate::errors::ApiError;
use crate::idempotency::IdempotencyCache;
use crate::runs::RunRegistry;
use crate::turn::TurnTracker;

pub(crate) type SharedState = Arc<AppState>;

pub(crate) struct AppState {
    pub config: ApiConfig,
    pub key: ApiKey,
    pub cors: CorsPolicy,
    pub backend: Arc<dyn Backend>,
    /// Platform logins (`/api/platforms/{platform}/login`), when the gateway offers them.
    pub logins: Option<Arc<dyn Logins>>,
    pub turns: Arc<TurnTracker>,
    pub runs: RunRegistry,
    pub idempotency: Arc<IdempotencyCache>,
}

impl AppState {
    pub fn new(config: ApiConfig, backend: Arc<dyn Backend>) -> Self {
        AppState {
            key: ApiKey::new(&config.key),
            cors: CorsPolicy::new(&config.cors_origins),
            turns: Arc::new(TurnTracker::new(config.max_concurrent_runs)),
            runs: RunRegistry::default(),
            idempotency: Arc::new(IdempotencyCache::default()),
            backend,
            logins: None,
            config,
        }
    }

    /// Text that may leave the server: the API key is blanked out wherever a backend or
    /// provider error happened to echo it.
    pub fn redact(&self, text: &str) -> String {
        if self.config.key.is_empty() { text.to_string() } else { text.replace(&self.config.key, "[REDACTED]") }
    }

    pub fn backend_error(&self, err: BackendError) -> ApiError {
        let mut e = ApiError::from_backend(err);
        e.message = self.redact(&e.message);
        e
    }
}
