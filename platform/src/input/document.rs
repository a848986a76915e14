//! JSON documents the domain checks as a whole.

use super::*;

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
