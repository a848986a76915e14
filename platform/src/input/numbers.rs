//! Integers and id lists with bounds the schema states and the handler checks.

use super::*;

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
