//! Defaults, overrides and refusals of the configuration.

use std::collections::HashMap;

use super::*;

#[test]
fn defaults_point_at_the_local_database_on_port_8080() {
    let config = Config::from_lookup(|_| None).expect("defaults parse");
    assert_eq!(config.database_url, "postgres://postgres@127.0.0.1:5432/zekka");
    assert_eq!(config.port, 8080);
    assert_eq!(config.log_format, LogFormat::Text);
    assert!(config.signing_key.is_none());
}

#[test]
fn a_malformed_port_is_a_clear_error() {
    let env = HashMap::from([("PORT", "eighty")]);
    let err = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect_err("must fail");
    assert!(err.to_string().contains("PORT"), "{err}");
}

#[test]
fn rate_limits_parse_and_scale_but_the_lockout_does_not() {
    let env = HashMap::from([
        ("RATE_LIMIT_REGISTER", "10/60"),
        ("ZEKKA_RATE_LIMIT_MULTIPLIER", "100"),
        ("LOGIN_LOCKOUT_THRESHOLD", "5"),
    ]);
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("parses");
    assert_eq!(config.limits.register_per_ip.max, 1000);
    assert_eq!(config.limits.register_per_ip.window, Duration::from_secs(60));
    assert_eq!(config.limits.login_failures_per_ip.max, 2000);
    assert_eq!(config.limits.lockout_threshold, 5);
    let bad = HashMap::from([("RATE_LIMIT_WRITES", "lots")]);
    assert!(Config::from_lookup(|k| bad.get(k).map(|v| v.to_string())).is_err());
}

#[test]
fn every_setting_is_an_environment_variable_with_a_description() {
    let settings = Config::reference();
    let command = Config::command();
    assert_eq!(
        settings.len(),
        command.get_arguments().count(),
        "a setting without `env`"
    );
    for setting in &settings {
        assert!(
            !setting.description.is_empty(),
            "{} has no doc comment",
            setting.variable
        );
    }
    let port = settings.iter().find(|s| s.variable == "PORT");
    assert_eq!(port.and_then(|s| s.default.as_deref()), Some("8080"));
}

#[test]
fn blank_values_are_unset_and_numbers_are_clamped_to_their_bounds() {
    let env = HashMap::from([
        ("PORT", "  "),
        ("PROJECTOR_BATCH_SIZE", "99999"),
        ("REFRESH_TOKEN_TTL_SECONDS", " 5 "),
        ("ZEKKA_ADMIN_EMAILS", " Ann@Example.com, ,bob@example.com,"),
        ("TRUST_FORWARDED_FOR", "true"),
        ("LOG_FORMAT", "json"),
    ]);
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("parses");
    assert_eq!(config.port, 8080);
    assert_eq!(config.projector_batch_size, 10_000);
    assert_eq!(config.refresh_token_ttl, Duration::from_secs(60));
    assert_eq!(config.admin_emails, ["ann@example.com", "bob@example.com"]);
    assert_eq!(config.trusted_proxy_hops, 1);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn a_bad_value_names_its_variable_even_where_the_field_is_named_otherwise() {
    for (variable, value) in [
        ("TRUST_FORWARDED_FOR", "several"),
        ("ZEKKA_ALLOW_UNSAFE_DB", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("ZEKKA_RATE_LIMIT_MULTIPLIER", "-2"),
    ] {
        let env = HashMap::from([(variable, value)]);
        let err = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect_err(variable);
        assert!(err.to_string().contains(variable), "{err}");
    }
}

#[test]
fn secrets_never_print() {
    let secret = Secret::new("k4.secret.abc");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
}

#[test]
fn the_arbitrator_chain_names_rules_or_ollama_models() {
    let chain = |value: &str| {
        let env = HashMap::from([("ARBITRATOR_CHAIN", value)]);
        Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).map(|c| c.arbitrator_chain)
    };
    assert_eq!(
        chain("ollama:llama3.1:8b, ollama:gpt-4,rules").ok(),
        Some(vec![
            "ollama:llama3.1:8b".to_owned(),
            "ollama:gpt-4".to_owned(),
            "rules".to_owned()
        ])
    );
    assert!(chain("ollama:").is_err());
    assert!(chain("coin-toss").is_err());
    let defaults = Config::from_lookup(|_| None).map(|c| c.arbitrator_chain).ok();
    assert_eq!(defaults, Some(vec!["rules".to_owned()]));
}

#[test]
fn the_summary_shows_no_secret() {
    let env = HashMap::from([
        ("DATABASE_URL", "postgres://zekka:hunter2@db:5432/zekka"),
        ("REDIS_URL", "redis://:s3cret@cache:6379"),
        ("ZEKKA_MASTER_KEY", "k4.local.very-secret"),
    ]);
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("parses");
    let summary = format!("{:?}", config.summary());
    for secret in ["hunter2", "s3cret", "very-secret"] {
        assert!(!summary.contains(secret), "{summary}");
    }
    assert!(
        summary.contains("postgres://zekka:***@db:5432/zekka"),
        "{summary}"
    );
}
