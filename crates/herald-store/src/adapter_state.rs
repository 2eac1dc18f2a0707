//! [`herald_core::AdapterState`] over the store: what an adapter is handed to keep its
//! cursor and per-peer tokens, confined to its own platform account's namespace.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::AdapterState;

use crate::Store;

/// One platform account's adapter state, kept in the store under its namespace.
#[derive(Clone)]
pub struct StoreAdapterState {
    store: Arc<dyn Store>,
    namespace: String,
}

impl std::fmt::Debug for StoreAdapterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAdapterState").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl StoreAdapterState {
    /// The state of `platform` (`telegram`) and, when a gateway runs several, `account`.
    pub fn new(store: Arc<dyn Store>, platform: &str, account: Option<&str>) -> StoreAdapterState {
        StoreAdapterState { store, namespace: namespace(platform, account) }
    }

    /// The namespace the values are stored under.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// `telegram` for the only account, `telegram:<account>` otherwise. A platform value
/// never contains `:`, so two accounts cannot share a namespace.
pub fn namespace(platform: &str, account: Option<&str>) -> String {
    match account {
        Some(account) => format!("{platform}:{account}"),
        None => platform.to_owned(),
    }
}

#[async_trait]
impl AdapterState for StoreAdapterState {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.store.state_get(&self.namespace, key).await.map_err(|e| e.to_string())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.store.state_put(&self.namespace, key, value).await.map_err(|e| e.to_string())
    }
}
