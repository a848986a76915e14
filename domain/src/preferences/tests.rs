//! Given events, when a command, then events or a refusal.

use cqrs_es::test::TestFramework;

use super::*;

#[test]
fn a_partial_update_changes_only_the_named_keys() {
    let expected = Settings {
        theme: Theme::Dark,
        notifications: Notifications {
            sound: true,
            ..Notifications::default()
        },
        ..Settings::default()
    };
    TestFramework::<Preferences>::with(())
        .given_no_previous_events()
        .when(PreferencesCommand::Update {
            patch: json!({"theme": "dark", "notifications": {"sound": true}}),
        })
        .then_expect_events(vec![PreferencesEvent::PreferencesUpdated { settings: expected }]);
}

#[test]
fn unknown_keys_and_wrong_types_are_all_reported_and_nothing_changes() {
    let refused = Preferences::default()
        .decide(PreferencesCommand::Update {
            patch: json!({"theme": "neon", "colour": "red", "compact_mode": "yes", "language": "en"}),
        })
        .expect_err("refused");
    let mut fields: Vec<String> = refused.field_errors().iter().map(|e| e.field.clone()).collect();
    fields.sort();
    assert_eq!(fields, ["colour", "compact_mode", "theme"]);
}

#[test]
fn an_exported_document_imports_back_to_the_same_settings() {
    let settings = Settings {
        language: "pt-BR".into(),
        timezone: "America/Sao_Paulo".into(),
        compact_mode: true,
        ..Settings::default()
    };
    let document = settings.to_document();
    assert_eq!(Settings::from_document(&document), Ok(settings));
}

#[test]
fn a_document_with_an_unknown_key_or_format_is_refused() {
    let bad = json!({"format": DOCUMENT_FORMAT, "preferences": {"theme": "dark", "volume": 11}});
    let errors = Settings::from_document(&bad).expect_err("refused");
    assert_eq!(errors[0].field, "preferences.volume");
    assert!(Settings::from_document(&json!({"format": "other", "preferences": {}})).is_err());
}

#[test]
fn reset_returns_to_the_defaults() {
    let mut state = Preferences::default();
    state.apply(PreferencesEvent::PreferencesUpdated {
        settings: Settings {
            theme: Theme::Light,
            ..Settings::default()
        },
    });
    state.apply(PreferencesEvent::PreferencesReset {});
    assert_eq!(state.settings, Settings::default());
}

#[test]
fn an_invalid_import_is_refused_with_every_field_and_nothing_changes() {
    TestFramework::<Preferences>::with(())
        .given_no_previous_events()
        .when(PreferencesCommand::Import {
            document: json!({"format": "other", "preferences": {"theme": "neon"}}),
        })
        .then_expect_error(PreferencesError::Invalid(vec![
            FieldError::new("format", format!("must be \"{DOCUMENT_FORMAT}\"")),
            FieldError::new("preferences.theme", "must be one of: light, dark, system"),
        ]));
}
