//! An in-memory [`AdapterState`]: what the gateway's store gives an adapter, for tests
//! that run an adapter without a gateway. Share one `Arc` across adapters to simulate
//! a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use herald_core::AdapterState;

#[derive(Debug, Default)]
pub struct MemState(Mutex<HashMap<String, String>>);

impl MemState {
    /// The value stored under `key`, read without the async trait.
    pub fn value(&self, key: &str) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }
}

#[async_trait]
impl AdapterState for MemState {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.value(key))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), value.to_string());
        Ok(())
    }
}
