//! Request fields whose OpenAPI schema states the rule the domain enforces.
//!
//! poem-openapi's `String` reads `false` and `12` as the strings `"false"`
//! and `"12"`, and its validators refuse with a 400 before the handler runs,
//! while CONTRACT.md wants a 422 naming the field. [`Text`] reads only JSON
//! strings (anything else is a malformed body, 400) and keeps the text as
//! sent; the domain then checks it and answers 422 with its own message. Its
//! rule parameter only describes that check in the schema (`minLength`,
//! `maxLength`, `pattern`, `enum`), so clients, the docs page and the fuzzer
//! read the same rule the domain applies.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use serde_json::Value;
use zekka_domain::Named;
use zekka_domain::shapes::{
    CONTROL_CHARACTERS as CONTROL, FREE_TEXT_PATTERN, NON_BLANK_TEXT_PATTERN, SHORT_TEXT_PATTERN,
};

/// What a [`Text`] field must satisfy, as the schema states it.
pub trait Rule: Send + Sync + 'static {
    /// Writes the rule into the field's string schema.
    fn describe(schema: &mut MetaSchema);
}

/// No rule beyond being a string: passwords to check, opaque tokens.
#[derive(Debug)]
pub enum Any {}

impl Rule for Any {
    fn describe(_: &mut MetaSchema) {}
}

/// Any text without a forbidden control character (an address to look up).
#[derive(Debug)]
pub enum Plain {}

impl Rule for Plain {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(FREE_TEXT_PATTERN.to_owned());
    }
}

/// A path segment naming something (a projection, an aggregate type or
/// id): no control characters (the request is refused before any route).
#[derive(Debug)]
pub enum Segment {}

impl Rule for Segment {
    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.pattern = Some(format!("^[^{CONTROL}]+$"));
    }
}

/// Short text: 1 to `MAX` characters once trimmed, not blank, no control
/// characters (names, titles, labels).
#[derive(Debug)]
pub enum Label<const MAX: usize> {}

impl<const MAX: usize> Rule for Label<MAX> {
    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(MAX);
        schema.pattern = Some(SHORT_TEXT_PATTERN.to_owned());
    }
}

/// Free text of at most `MAX` characters (descriptions, details).
#[derive(Debug)]
pub enum Prose<const MAX: usize> {}

impl<const MAX: usize> Rule for Prose<MAX> {
    fn describe(schema: &mut MetaSchema) {
        schema.max_length = Some(MAX);
        schema.pattern = Some(FREE_TEXT_PATTERN.to_owned());
    }
}

/// Text that is not blank, at most `MAX` characters (message content).
#[derive(Debug)]
pub enum NonBlank<const MAX: usize> {}

impl<const MAX: usize> Rule for NonBlank<MAX> {
    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(MAX);
        schema.pattern = Some(NON_BLANK_TEXT_PATTERN.to_owned());
    }
}

/// One of the names of `E` (a stage, a role, a status).
#[derive(Debug)]
pub struct OneOf<E>(PhantomData<fn() -> E>);

impl<E: Named + Send + Sync> Rule for OneOf<E> {
    fn describe(schema: &mut MetaSchema) {
        schema.enum_items = E::names().into_iter().map(Value::from).collect();
    }
}

/// A non-negative decimal string with at most `DIGITS` digits before the
/// point and six after (`"250.00"`): budgets and prices.
#[derive(Debug)]
pub enum Decimal<const DIGITS: usize> {}

impl<const DIGITS: usize> Rule for Decimal<DIGITS> {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(format!(
            r"^([0-9]{{1,{DIGITS}}}(\.[0-9]{{0,6}})?|\.[0-9]{{1,6}})$"
        ));
    }
}

/// An email address as the domain accepts it: one `@`, a dotted domain, no
/// spaces or control characters, at most 254 characters.
#[derive(Debug)]
pub enum EmailAddress {}

impl Rule for EmailAddress {
    fn describe(schema: &mut MetaSchema) {
        let part = format!(r"[^\s@.{CONTROL}]+");
        schema.max_length = Some(zekka_domain::user::Email::MAX_CHARS);
        schema.pattern = Some(format!(r"^[^\s@{CONTROL}]+@{part}(\.{part})+$"));
    }
}

/// A new password: at least 12 characters, at most 1 KiB, no control
/// characters. (That it is no common password and repeats no few
/// characters no schema can say.)
#[derive(Debug)]
pub enum NewPassword {}

impl Rule for NewPassword {
    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(zekka_domain::user::Password::MIN_CHARS);
        schema.max_length = Some(zekka_domain::user::Password::MAX_BYTES);
        schema.pattern = Some(format!("^[^{CONTROL}]*$"));
    }
}

/// A model name: 1 to 100 of ASCII letters, digits and `. : _ - /`.
#[derive(Debug)]
pub enum ModelName {}

impl Rule for ModelName {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(r"^[A-Za-z0-9.:_/-]{1,100}$".to_owned());
    }
}

/// A UUID the handler parses itself (a page cursor), so a malformed one
/// gets the handler's message.
#[derive(Debug)]
pub enum UuidFormat {}

impl Rule for UuidFormat {
    fn describe(schema: &mut MetaSchema) {
        schema.format = Some("uuid");
    }
}

/// A sequence number the handler parses itself (a page cursor within one
/// stream): decimal digits.
#[derive(Debug)]
pub enum SequenceFormat {}

impl Rule for SequenceFormat {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(r"^[0-9]{1,18}$".to_owned());
    }
}

/// A time bound as handlers read it: an RFC 3339 time, a plain
/// `YYYY-MM-DD` date, or empty for no bound.
#[derive(Debug)]
pub enum TimeBound {}

impl Rule for TimeBound {
    fn describe(schema: &mut MetaSchema) {
        let mut empty = MetaSchema::new("string");
        empty.max_length = Some(0);
        schema.any_of = vec![
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time"))),
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date"))),
            MetaSchemaRef::Inline(Box::new(empty)),
        ];
    }
}

/// A string field of a request, described by `R` and checked by the domain.
pub struct Text<R = Any> {
    text: String,
    rule: PhantomData<fn() -> R>,
}

impl<R> Text<R> {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text as sent, owned.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl<R> From<String> for Text<R> {
    fn from(text: String) -> Self {
        Self {
            text,
            rule: PhantomData,
        }
    }
}

impl<R> Deref for Text<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl<R> Clone for Text<R> {
    fn clone(&self) -> Self {
        Self::from(self.text.clone())
    }
}

impl<R> fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<R: Rule> Type for Text<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        R::describe(&mut schema);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.text)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.text))
    }
}

impl<R: Rule> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self::from(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<R: Rule> ParseFromParameter for Text<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self::from(value.to_owned()))
    }
}

impl<R: Rule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.text.clone()))
    }
}

/// A JSON document the domain checks as a whole (a preferences patch).
/// Its schema needs `additionalProperties: false`, which poem-openapi's
/// registry cannot say, so the registry holds a placeholder under
/// [`Shape::NAME`] and the served document puts [`Shape::json_schema`]
/// in its place (see `src/openapi.rs`).
pub trait Shape: Send + Sync + 'static {
    /// The component name in the OpenAPI document.
    const NAME: &'static str;

    /// The document's JSON Schema.
    fn json_schema() -> Value;
}

/// A request body of shape `S`: any JSON value is read, the domain checks it.
pub struct Document<S> {
    /// The body as sent.
    pub value: Value,
    shape: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for Document<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

impl<S: Shape> Type for Document<S> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Value;

    type RawElementValueType = Value;

    fn name() -> Cow<'static, str> {
        S::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(S::NAME.to_owned())
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        registry.create_schema::<Self, _>(S::NAME.to_owned(), |_| MetaSchema::new("object"));
    }

    fn as_raw_value(&self) -> Option<&Value> {
        Some(&self.value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        Box::new(std::iter::once(&self.value))
    }
}

impl<S: Shape> ParseFromJSON for Document<S> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(Self {
            value: value.unwrap_or_default(),
            shape: PhantomData,
        })
    }
}

impl<S: Shape> ToJSON for Document<S> {
    fn to_json(&self) -> Option<Value> {
        Some(self.value.clone())
    }
}

/// An integer the domain wants within `MIN..=MAX`: any JSON integer (or
/// query value) is read, the schema states the bounds, and the handler
/// refuses values outside them with a 422.
#[derive(Debug, Clone, Copy)]
pub struct Bounded<const MIN: i64, const MAX: i64>(pub i64);

/// `?limit=`: at least 1; paging lowers larger ones to its cap.
pub type PageLimit = Bounded<1, { i64::MAX }>;

impl<const MIN: i64, const MAX: i64> Type for Bounded<MIN, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = i64;

    type RawElementValueType = i64;

    fn name() -> Cow<'static, str> {
        "integer_int64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("integer", "int64");
        // JSON Schema bounds are numbers; these are far inside f64's exact range.
        #[allow(clippy::cast_precision_loss)]
        {
            schema.minimum = (MIN != i64::MIN).then_some(MIN as f64);
            schema.maximum = (MAX != i64::MAX).then_some(MAX as f64);
        }
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&i64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a i64> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MIN: i64, const MAX: i64> ParseFromJSON for Bounded<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        i64::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<const MIN: i64, const MAX: i64> ParseFromParameter for Bounded<MIN, MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value.parse().map(Self).map_err(ParseError::custom)
    }
}

impl<const MIN: i64, const MAX: i64> ToJSON for Bounded<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A list of ids the domain wants `MIN..=MAX` of: any array of UUIDs is
/// read, the schema states the bounds, the domain refuses others with 422.
#[derive(Debug, Clone)]
pub struct Ids<const MIN: usize, const MAX: usize>(pub Vec<uuid::Uuid>);

impl<const MIN: usize, const MAX: usize> Type for Ids<MIN, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Vec<uuid::Uuid>;

    type RawElementValueType = uuid::Uuid;

    fn name() -> Cow<'static, str> {
        "array_uuid".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("array");
        schema.items = Some(Box::new(uuid::Uuid::schema_ref()));
        schema.min_items = Some(MIN);
        schema.max_items = Some(MAX);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Vec<uuid::Uuid>> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a uuid::Uuid> + 'a> {
        Box::new(self.0.iter())
    }
}

impl<const MIN: usize, const MAX: usize> ParseFromJSON for Ids<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<uuid::Uuid>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<const MIN: usize, const MAX: usize> ToJSON for Ids<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

#[cfg(test)]
mod tests {
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
}

/// The shape of a consistency token, for the `X-Consistency-Token` header's schema.
#[derive(Debug)]
pub enum TokenFormat {}

impl Rule for TokenFormat {
    fn describe(schema: &mut poem_openapi::registry::MetaSchema) {
        schema.pattern = Some(zekka_event_store::consistency::TOKEN_PATTERN.to_owned());
    }
}

/// The `X-Consistency-Token` header as a parameter.
pub type TokenHeader = Text<TokenFormat>;
