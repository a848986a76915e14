//! What each field reads, refuses and states in its schema.

use serde_json::json;

use super::*;

fn schema_of<T: Type>() -> Value {
    match T::schema_ref() {
        MetaSchemaRef::Inline(schema) => serde_json::to_value(schema).unwrap_or_default(),
        MetaSchemaRef::Reference(name) => Value::String(name),
    }
}

#[test]
fn only_json_strings_are_text() {
    assert!(Text::<Any>::parse_from_json(Some(json!(false))).is_err());
    assert!(Text::<Any>::parse_from_json(Some(json!(12))).is_err());
    let text = Text::<Label<5>>::parse_from_json(Some(json!("  kept as sent "))).ok();
    assert_eq!(text.as_deref(), Some("  kept as sent "));
}

#[test]
fn the_schema_states_the_rule() {
    assert_eq!(
        schema_of::<Text<OneOf<zekka_domain::project::Role>>>()["enum"],
        json!(["owner", "admin", "member", "viewer"])
    );
    let label = schema_of::<Text<Label<200>>>();
    assert_eq!(
        (label["minLength"].clone(), label["maxLength"].clone()),
        (json!(1), json!(200))
    );
    assert_eq!(schema_of::<PageLimit>()["minimum"], json!(1.0));
}

fn pattern_of<T: Type>() -> regex::Regex {
    let pattern = schema_of::<T>()["pattern"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    regex::Regex::new(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The schema and the domain agree: a value matches the pattern exactly
/// when the domain accepts it (lengths are checked by the fuzzer).
#[test]
fn patterns_accept_what_the_domain_accepts() {
    use zekka_domain::project::{Budget, ProjectName};
    use zekka_domain::user::Email;

    let samples = [
        "Apollo",
        " Apollo ",
        "",
        "   ",
        "a\u{7}b",
        "\u{85}",
        "x\u{a0}",
        "tab\there",
        "line\nbreak",
        "ünïcödé",
        "\u{2003}",
        "name@example.com",
        "a@b.c",
        "a@b",
        "@b.c",
        "a@.b.c",
        "a@b..c",
        "a@b.c.",
        "a b@c.d",
        "a@b@c.d",
        "UP@EXAMPLE.ORG",
        "250.00",
        "0",
        "-1",
        "1.0000001",
        "999999999999.999999",
        "1000000000000",
        "1e3",
        ".5",
        "5.",
        "-0",
        "+5",
        "0.",
        "00.10",
        "1_000",
        "gpt-4o",
        "llama3:8b",
        "org/model_v1.2",
        "bad model",
        "",
    ];
    let label = pattern_of::<Text<Label<200>>>();
    let email = pattern_of::<Text<EmailAddress>>();
    let budget = pattern_of::<Text<Decimal<12>>>();
    let model = pattern_of::<Text<ModelName>>();
    for sample in samples {
        // Leading and trailing spaces are trimmed by the domain; the
        // schema asks clients not to send them, so compare trimmed text.
        let trimmed = sample.trim();
        assert_eq!(
            label.is_match(sample),
            ProjectName::parse(sample).is_ok(),
            "label {sample:?}"
        );
        assert_eq!(
            email.is_match(trimmed),
            Email::parse(trimmed).is_ok(),
            "email {sample:?}"
        );
        assert_eq!(
            budget.is_match(trimmed),
            Budget::parse(trimmed).is_ok(),
            "budget {sample:?}"
        );
        assert_eq!(
            model.is_match(trimmed),
            zekka_domain::pricing::ModelName::parse(trimmed).is_ok(),
            "model {sample:?}"
        );
    }
}
