//! The message types a webhook subscribes to, as the schema states them.

use super::*;
use crate::notifications::KINDS;

/// At least one of the WebSocket's message types (repeats are read once);
/// the schema lists them, the handler refuses others with a 422.
#[derive(Debug, Clone)]
pub struct MessageKinds(pub Vec<String>);

impl Type for MessageKinds {
    const IS_REQUIRED: bool = true;

    type RawValueType = Vec<String>;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "array_message_kind".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut item = MetaSchema::new("string");
        item.enum_items = KINDS.iter().map(|kind| Value::from(*kind)).collect();
        let mut schema = MetaSchema::new("array");
        schema.items = Some(Box::new(MetaSchemaRef::Inline(Box::new(item))));
        schema.min_items = Some(1);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Vec<String>> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.0.iter())
    }
}

impl ParseFromJSON for MessageKinds {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<String>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for MessageKinds {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}
