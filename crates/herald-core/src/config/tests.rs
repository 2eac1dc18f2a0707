use super::*;

fn load(yaml_text: &str, env: &[(&str, &str)]) -> Result<Effective, ConfigError> {
    let mut l = ConfigLoader::new();
    l.yaml("/h/config.yaml", yaml_text)?;
    l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    l.build()
}

#[test]
fn defaults_apply() {
    let eff = load("", &[]).unwrap();
    assert_eq!(eff.config.agent.max_turns, 90);
    assert_eq!(eff.config.memory.memory_char_limit, 2200);
    assert!(eff.config.model.stream);
    assert_eq!(eff.origin("agent.max_turns"), Some(&Origin::Default));
}

#[test]
fn layers_later_wins_and_remember_origin() {
    let mut l = ConfigLoader::new();
    l.yaml("/h/config.yaml", "model:\n  default: from-yaml\nagent:\n  max_turns: 7\n").unwrap();
    l.dotenv("/h/.env", "HERALD_MODEL=from-dotenv\n").unwrap();
    l.env([("HERALD_MAX_ITERATIONS", "8")]);
    l.flag("--model", "model.default", "from-flag").unwrap();
    let eff = l.build().unwrap();
    assert_eq!(eff.config.model.model.as_deref(), Some("from-flag"));
    assert_eq!(eff.config.agent.max_turns, 8);
    assert_eq!(eff.origin("agent.max_turns"), Some(&Origin::Env { var: "HERALD_MAX_ITERATIONS".into() }));
}

#[test]
fn herald_env_beats_hermes_alias() {
    let eff = load("", &[("HERMES_MAX_ITERATIONS", "5"), ("HERALD_MAX_ITERATIONS", "6")]).unwrap();
    assert_eq!(eff.config.agent.max_turns, 6);
    let eff = load("", &[("HERMES_MAX_ITERATIONS", "5")]).unwrap();
    assert_eq!(eff.config.agent.max_turns, 5);
}

#[test]
fn bad_yaml_value_names_file_key_line_and_expectation() {
    let err = load("# x\nagent:\n  max_turns: lots\n", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/h/config.yaml:3: `agent.max_turns` expects a whole number from 1 to 1000, found `lots`"
    );
}

#[test]
fn bad_env_value_names_the_variable() {
    let err = load("", &[("HERALD_STREAM", "perhaps")]).unwrap_err();
    assert!(
        err.to_string().contains("environment variable HERALD_STREAM (setting `model.stream`) expects true or false"),
        "{err}"
    );
}

#[test]
fn secrets_are_never_echoed_in_errors_or_show() {
    let eff = load("", &[("OPENAI_API_KEY", "sk-abcdefghijklmnop1234")]).unwrap();
    let shown = eff.shown();
    let row = shown.iter().find(|r| r.key == "providers.openai.api_key").unwrap();
    assert_eq!(row.value.as_deref(), Some("sk-…1234"));
    assert!(!format!("{:?}", eff.config).contains("abcdefghijklmnop"));
}

#[test]
fn syntax_error_is_reported_with_position() {
    let err = load("model: [\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Yaml { ref path, .. } if path == "/h/config.yaml"), "{err:?}");
    assert!(err.to_string().contains("not valid YAML"));
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let eff = load("platforms:\n  telegram:\n    extra: {a: 1}\nmodel:\n  default: m\n", &[]).unwrap();
    assert_eq!(eff.config.model.model.as_deref(), Some("m"));
    assert!(eff.warnings.iter().any(|w| w.contains("platforms.telegram.extra.a")), "{:?}", eff.warnings);
}

#[test]
fn nested_value_for_a_scalar_setting_is_an_error() {
    let err = load("model:\n  default:\n    - {a: 1}\n", &[]).unwrap_err();
    assert!(err.to_string().contains("found a nested list or mapping"), "{err}");
}

#[test]
fn unknown_flag_key() {
    let mut l = ConfigLoader::new();
    assert!(matches!(l.flag("--set", "nope", "1"), Err(ConfigError::UnknownSetting { .. })));
}

#[test]
fn provider_resolution() {
    let r = load("", &[("OPENAI_API_KEY", "k1")]).unwrap().config.model.resolve().unwrap();
    assert_eq!((r.kind, r.model.as_str()), (ProviderKind::OpenAi, "gpt-4.1-mini"));
    let r =
        load("", &[("ANTHROPIC_API_KEY", "k2"), ("HERALD_MODEL", "claude-x")]).unwrap().config.model.resolve().unwrap();
    assert_eq!((r.kind, r.model.as_str()), (ProviderKind::Anthropic, "claude-x"));
    let r = load("", &[("HERALD_LLM_BASE_URL", "http://127.0.0.1:1/v1/")]).unwrap().config.model.resolve().unwrap();
    assert_eq!((r.kind, r.base_url.as_deref(), r.api_key), (ProviderKind::OpenAi, Some("http://127.0.0.1:1/v1"), None));
    let err = load("", &[]).unwrap().config.model.resolve().unwrap_err();
    assert!(err.contains("OPENAI_API_KEY") && err.contains("ANTHROPIC_API_KEY"));
    let err =
        load("", &[("OPENAI_API_KEY", "a"), ("ANTHROPIC_API_KEY", "b")]).unwrap().config.model.resolve().unwrap_err();
    assert!(err.contains("HERALD_PROVIDER"));
    let err = load("", &[("HERALD_PROVIDER", "anthropic")]).unwrap().config.model.resolve().unwrap_err();
    assert!(err.contains("ANTHROPIC_API_KEY is not set"));
    let r = load("model:\n  provider: ollama\n  base_url: http://127.0.0.1:11434/v1\n", &[])
        .unwrap()
        .config
        .model
        .resolve()
        .unwrap();
    assert_eq!(r.kind, ProviderKind::OpenAi);
}

#[test]
fn api_server_defaults_and_env() {
    let eff =
        load("", &[("API_SERVER_PORT", "9000"), ("API_SERVER_CORS_ORIGINS", "http://a.test, http://b.test")]).unwrap();
    let api = &eff.config.api_server;
    assert_eq!((api.host.as_str(), api.port, api.model_name.as_str()), ("127.0.0.1", 9000, "hermes-agent"));
    assert_eq!(api.cors_origins, ["http://a.test", "http://b.test"]);
    assert_eq!(api.max_concurrent_runs, 10);
    assert!(api.enabled && api.key.is_none());
    assert_eq!(eff.config.gateway.drain_timeout.as_secs(), 30);
    assert!(load("", &[("API_SERVER_PORT", "70000")]).is_err());
}

#[test]
fn model_routes_from_either_hermes_or_herald_keys() {
    let yaml = "platforms:\n  api_server:\n    extra:\n      model_routes:\n        fast:\n          model: gpt-4o-mini\n        deep:\n          model: claude-x\n          provider: anthropic\n          base_url: http://127.0.0.1:1/\napi_server:\n  model_routes:\n    tiny: qwen3\n";
    let eff = load(yaml, &[]).unwrap();
    let routes = &eff.config.api_server.model_routes;
    let names: Vec<(&str, &str)> = routes.iter().map(|r| (r.alias.as_str(), r.model.as_str())).collect();
    assert_eq!(names, [("deep", "claude-x"), ("fast", "gpt-4o-mini"), ("tiny", "qwen3")]);
    assert_eq!(routes[0].provider.as_deref(), Some("anthropic"));
    assert_eq!(routes[0].base_url.as_deref(), Some("http://127.0.0.1:1"));
    assert!(eff.warnings.is_empty(), "{:?}", eff.warnings);

    let err = load("api_server:\n  model_routes:\n    bad:\n      provider: nope\n", &[]).unwrap_err().to_string();
    assert!(err.contains("model_routes.bad.provider") && err.contains("model_routes.bad.model"), "{err}");
}
