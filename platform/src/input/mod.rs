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

mod document;
mod kinds;
mod numbers;
mod rules;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use serde_json::Value;

pub use document::{Document, Shape};
pub use kinds::MessageKinds;
pub use numbers::{Bounded, Ids, PageLimit};
pub use rules::*;

/// What a [`Text`] field must satisfy, as the schema states it.
pub trait Rule: Send + Sync + 'static {
    /// Writes the rule into the field's string schema.
    fn describe(schema: &mut MetaSchema);
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
