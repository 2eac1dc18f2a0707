//! Builds the running pieces (store, provider, agent) from the configuration.

use std::sync::Arc;

use anyhow::Context;
use herald_agent::provider::Provider;
use herald_agent::tools::{ClockTool, MemoryFiles, MemoryTool, SessionSearchTool, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::config::{Config, ProviderKind, ResolvedModel};
use herald_gateway::{Conversations, StoreTranscriptSearch};
use herald_store::{SqliteStore, Store};

use crate::home::Home;

/// Opens the database in the home directory.
pub async fn open_store(home: &Home) -> anyhow::Result<Arc<dyn Store>> {
    home.ensure()?;
    // Opening runs migrations: blocking file work, kept off the async workers.
    let path = home.database();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .context("the database opener panicked")??;
    Ok(Arc::new(store))
}

/// Chooses and builds the provider, or explains exactly what to set.
pub fn build_provider(config: &Config) -> anyhow::Result<(Arc<dyn Provider>, ResolvedModel)> {
    let resolved = config.model.resolve().map_err(anyhow::Error::msg)?;
    let m = &config.model;
    let provider: Arc<dyn Provider> = match resolved.kind {
        ProviderKind::OpenAi => {
            let mut c = herald_agent::provider::OpenAiConfig::default();
            if let Some(url) = &resolved.base_url {
                c.base_url = url.clone();
            }
            c.api_key = resolved.api_key.clone();
            c.timeouts.connect = m.connect_timeout;
            c.timeouts.request = m.timeout;
            c.max_retries = m.max_retries;
            Arc::new(herald_agent::provider::OpenAiProvider::new(c)?)
        }
        ProviderKind::Anthropic => {
            let mut c = herald_agent::provider::AnthropicConfig::default();
            if let Some(url) = &resolved.base_url {
                c.base_url = url.clone();
            }
            c.api_key = resolved.api_key.clone();
            c.timeouts.connect = m.connect_timeout;
            c.timeouts.request = m.timeout;
            c.max_retries = m.max_retries;
            Arc::new(herald_agent::provider::AnthropicProvider::new(c)?)
        }
    };
    Ok((provider, resolved))
}

/// The memory files as configured.
pub fn memory_files(home: &Home, config: &Config) -> MemoryFiles {
    MemoryFiles {
        dir: home.dir.clone(),
        memory_enabled: config.memory.memory_enabled,
        user_enabled: config.memory.user_profile_enabled,
        memory_char_limit: config.memory.memory_char_limit,
        user_char_limit: config.memory.user_char_limit,
    }
}

/// The built-in tools.
pub fn tools(config: &Config, memory: &MemoryFiles, store: &Arc<dyn Store>) -> anyhow::Result<ToolRegistry> {
    let mut registry = ToolRegistry::new();
    let clock = ClockTool::new(config.timezone.as_deref()).map_err(|e| anyhow::anyhow!("setting `timezone`: {e}"))?;
    registry.register(Arc::new(clock));
    if config.memory.memory_enabled || config.memory.user_profile_enabled {
        registry.register(Arc::new(MemoryTool::new(memory.clone())));
    }
    registry.register(Arc::new(SessionSearchTool::new(Arc::new(StoreTranscriptSearch::new(store.clone())))));
    Ok(registry)
}

/// Everything a conversation needs.
pub async fn conversations(home: &Home, config: &Config) -> anyhow::Result<Conversations> {
    let (provider, resolved) = build_provider(config)?;
    let store = open_store(home).await?;
    let memory = memory_files(home, config);
    let tools = tools(config, &memory, &store)?;
    let settings = AgentSettings {
        model: resolved.model,
        max_tokens: config.model.max_tokens,
        temperature: config.model.temperature,
        stream: config.model.stream,
        max_iterations: config.agent.max_turns,
    };
    let agent = Arc::new(Agent::new(provider, tools, settings));
    Ok(Conversations::new(store, agent, home.dir.clone(), memory))
}
