//! Builds the running pieces (store, providers, agents, the API backend) from the
//! configuration.

use std::sync::Arc;

use anyhow::Context;
use herald_agent::provider::Provider;
use herald_agent::tools::{ClockTool, MemoryFiles, MemoryTool, SessionSearchTool, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::config::{Config, ModelConfig, ModelRoute, ProviderKind, ResolvedModel};
use herald_gateway::{AgentSlot, Conversations, RouteAgent, StoreTranscriptSearch};
use herald_store::{SqliteStore, Store};

use crate::home::Home;

/// Opens the database in the home directory.
pub async fn open_store(home: &Home) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_sqlite(home).await?)
}

/// Opens the database in the home directory, keeping the concrete type so the caller
/// can close it (and checkpoint the WAL) when it is done.
pub async fn open_sqlite(home: &Home) -> anyhow::Result<Arc<SqliteStore>> {
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
    provider_for(&config.model)
}

fn provider_for(m: &ModelConfig) -> anyhow::Result<(Arc<dyn Provider>, ResolvedModel)> {
    let resolved = m.resolve().map_err(anyhow::Error::msg)?;
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

fn agent_settings(config: &Config, model: String) -> AgentSettings {
    AgentSettings {
        model,
        max_tokens: config.model.max_tokens,
        temperature: config.model.temperature,
        stream: config.model.stream,
        max_iterations: config.agent.max_turns,
    }
}

/// Everything a conversation needs.
pub async fn conversations(home: &Home, config: &Config) -> anyhow::Result<Conversations> {
    let (provider, resolved) = build_provider(config)?;
    let store = open_store(home).await?;
    let memory = memory_files(home, config);
    let tools = tools(config, &memory, &store)?;
    let agent = Arc::new(Agent::new(provider, tools, agent_settings(config, resolved.model)));
    Ok(Conversations::new(store, agent, home.dir.clone(), memory))
}

/// The agents of the API server: the default one and one per `model_routes` alias.
/// A missing or broken provider is not fatal here: its slot holds the message that
/// says what to set, which a turn that needs it answers with.
pub fn api_agents(config: &Config, tools: &ToolRegistry) -> (AgentSlot, Vec<RouteAgent>) {
    let default = build_provider(config).map_err(|e| format!("{e:#}"));
    let agent = default
        .as_ref()
        .map(|(provider, resolved)| {
            Arc::new(Agent::new(provider.clone(), tools.clone(), agent_settings(config, resolved.model.clone())))
        })
        .map_err(Clone::clone);
    let routes = config
        .api_server
        .model_routes
        .iter()
        .map(|route| {
            let provider =
                route_provider(config, route, default.as_ref().map(|(p, _)| p.clone()).map_err(Clone::clone));
            RouteAgent {
                alias: route.alias.clone(),
                model: route.model.clone(),
                agent: provider.map(|provider| {
                    Arc::new(Agent::new(provider, tools.clone(), agent_settings(config, route.model.clone())))
                }),
            }
        })
        .collect();
    (agent, routes)
}

/// The provider a route talks to: its own when it names a provider, base URL or key
/// (the rest taken from the main model settings), else the default one.
fn route_provider(
    config: &Config,
    route: &ModelRoute,
    default: Result<Arc<dyn Provider>, String>,
) -> Result<Arc<dyn Provider>, String> {
    if route.provider.is_none() && route.base_url.is_none() && route.api_key.is_none() {
        return default;
    }
    let mut m = config.model.clone();
    m.model = Some(route.model.clone());
    if let Some(provider) = &route.provider {
        m.provider = provider.clone();
        // Another provider does not inherit the default's server.
        m.base_url = None;
    }
    if let Some(url) = &route.base_url {
        m.base_url = Some(url.clone());
    }
    if let Some(key) = &route.api_key {
        // The key belongs to the route's wire format; `auto` with a route key means
        // OpenAI-compatible, the common case (OpenRouter, vLLM, a second OpenAI key).
        if m.provider == "anthropic" {
            m.anthropic_api_key = Some(key.clone());
        } else {
            if m.provider == "auto" {
                m.provider = "openai".into();
            }
            m.openai_api_key = Some(key.clone());
        }
    }
    provider_for(&m).map(|(provider, _)| provider).map_err(|e| format!("model route `{}`: {e:#}", route.alias))
}
