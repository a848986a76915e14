//! The rules a [`Text`] field states in its schema, one per kind of field.

use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use serde_json::Value;
use zekka_domain::Named;
use zekka_domain::shapes::{
    CONTROL_CHARACTERS as CONTROL, FREE_TEXT_PATTERN, NON_BLANK_TEXT_PATTERN, SHORT_TEXT_PATTERN,
};

use super::{Rule, Text};

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

/// A webhook's target: `http(s)://`, a host name whose last label is
/// letters (no IP literal, no user info), an optional port, then a path,
/// query or fragment without spaces; at most 2048 characters. The same rule
/// as `command_api`'s check, which also refuses internal addresses.
#[derive(Debug)]
pub enum WebhookUrl {}

/// The longest webhook URL.
pub const WEBHOOK_URL_MAX_CHARS: usize = 2048;

impl Rule for WebhookUrl {
    fn describe(schema: &mut MetaSchema) {
        schema.max_length = Some(WEBHOOK_URL_MAX_CHARS);
        schema.pattern = Some(format!(
            r"^https?://([A-Za-z0-9-]+\.)*[A-Za-z]+(:([0-9]{{1,4}}|[1-5][0-9]{{4}}|6[0-4][0-9]{{3}}|65[0-4][0-9]{{2}}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s{CONTROL}]*)?$"
        ));
    }
}

/// A shared secret of `MIN` to `MAX` characters without control characters.
#[derive(Debug)]
pub enum SharedSecret<const MIN: usize, const MAX: usize> {}

impl<const MIN: usize, const MAX: usize> Rule for SharedSecret<MIN, MAX> {
    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(MIN);
        schema.max_length = Some(MAX);
        schema.pattern = Some(format!("^[^{CONTROL}]*$"));
    }
}
