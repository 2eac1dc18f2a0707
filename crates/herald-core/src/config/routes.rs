//! `model_routes`: aliases a client may name in `model` to reach another model (and
//! optionally another provider). Hermes keeps them under
//! `platforms.api_server.extra.model_routes`; herald also reads `api_server.model_routes`.

use std::collections::BTreeMap;

use super::registry::{Kind, PROVIDER_CHOICES};
use super::{Origin, Problem, value};

const PREFIXES: &[&str] = &["api_server.model_routes.", "platforms.api_server.extra.model_routes."];

/// One alias.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelRoute {
    pub alias: String,
    pub model: String,
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ModelRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRoute")
            .field("alias", &self.alias)
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

#[derive(Debug, Default)]
struct Draft {
    fields: BTreeMap<String, (String, Origin)>,
    origin: Option<Origin>,
}

/// Collects route fields while the YAML is read.
#[derive(Debug, Default)]
pub(super) struct RouteCollector {
    drafts: BTreeMap<String, Draft>,
}

impl RouteCollector {
    /// Takes `key` if it belongs to a route; returns false for other keys.
    pub(super) fn offer(&mut self, key: &str, value: String, origin: Origin) -> bool {
        let Some(rest) = PREFIXES.iter().find_map(|p| key.strip_prefix(p)) else { return false };
        let (alias, field) = match rest.rsplit_once('.') {
            Some((alias, field)) => (alias.to_string(), field.to_string()),
            // `model_routes: {fast: gpt-4o-mini}`: the shorthand names just the model.
            None => (rest.to_string(), "model".to_string()),
        };
        let draft = self.drafts.entry(alias).or_default();
        draft.origin.get_or_insert_with(|| origin.clone());
        draft.fields.insert(field, (value, origin));
        true
    }

    pub(super) fn finish(self, problems: &mut Vec<Problem>) -> Vec<ModelRoute> {
        let mut routes = Vec::new();
        for (alias, draft) in self.drafts {
            let origin = draft.origin.unwrap_or(Origin::Default);
            let mut get = |field: &str, kind: Kind, expected: &str| -> Option<String> {
                let (v, o) = draft.fields.get(field)?;
                if value::check(kind, v).is_err() {
                    problems.push(Problem {
                        key: format!("model_routes.{alias}.{field}"),
                        origin: o.clone(),
                        found: if field == "api_key" { "(hidden)".into() } else { v.clone() },
                        expected: expected.to_string(),
                    });
                    return None;
                }
                Some(v.trim().to_string())
            };
            let provider = get("provider", Kind::Choice(PROVIDER_CHOICES), &Kind::Choice(PROVIDER_CHOICES).expected());
            let base_url = get("base_url", Kind::Url, &Kind::Url.expected());
            let api_key = get("api_key", Kind::Text, "text");
            match get("model", Kind::Text, "a model name") {
                Some(model) if !model.is_empty() => routes.push(ModelRoute {
                    alias,
                    model,
                    provider: provider.map(|p| p.to_ascii_lowercase()),
                    base_url: base_url.map(|u| u.trim_end_matches('/').to_string()),
                    api_key,
                }),
                _ => problems.push(Problem {
                    key: format!("model_routes.{alias}.model"),
                    origin,
                    found: String::new(),
                    expected: "a model name for this alias".into(),
                }),
            }
        }
        routes
    }
}
