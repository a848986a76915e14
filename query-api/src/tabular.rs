//! Answers that are tables: JSON by default, CSV when the client asks for
//! it with `Accept: text/csv` (analysts' spreadsheets and notebooks).
//!
//! The CSV is made from the JSON answer, so the two never disagree: the
//! rows are the answer's `items` (or, for an answer of several lists, every
//! list's rows with a `section` column; for an answer of plain values, one
//! row), the columns the fields in the order the answer's OpenAPI schema
//! declares them (so an empty list still has its header), with the
//! answer's plain top-level values (`price_at`, `project_id`) first,
//! repeated on every row. A text cell that a spreadsheet would run as a formula is
//! prefixed with `'` (OWASP's advice against CSV injection).

use poem::{IntoResponse, Request, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ToJSON, Type};
use serde_json::{Map, Value};

/// The media type of the CSV form.
pub const CSV: &str = "text/csv; charset=utf-8";

/// Which form the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (the default).
    Json,
    /// `text/csv`.
    Csv,
}

impl Format {
    /// The form `req` asks for: CSV when its `Accept` names `text/csv`
    /// before (or without) `application/json`.
    pub fn of(req: &Request) -> Self {
        let accept = req
            .headers()
            .get(poem::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match (accept.find("text/csv"), accept.find("application/json")) {
            (Some(csv), Some(json)) if csv < json => Format::Csv,
            (Some(_), None) => Format::Csv,
            _ => Format::Json,
        }
    }
}

/// An answer served as JSON or CSV, as the request asked.
pub struct Tabular<T> {
    body: T,
    format: Format,
}

impl<T> Tabular<T> {
    /// `body` in the form `req` asks for.
    pub fn new(req: &Request, body: T) -> Self {
        Self {
            body,
            format: Format::of(req),
        }
    }
}

impl<T: Type + ToJSON> ApiResponse for Tabular<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The answer as JSON, or as CSV (a header row, then one row per item) \
                              when asked with `Accept: text/csv`",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: <Json<T> as Payload>::CONTENT_TYPE,
                        schema: T::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: CSV,
                        schema: String::schema_ref(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + ToJSON + Send> IntoResponse for Tabular<T> {
    fn into_response(self) -> Response {
        match self.format {
            Format::Json => Json(self.body).into_response(),
            Format::Csv => {
                let value = self.body.to_json().unwrap_or(Value::Null);
                Response::builder()
                    .content_type(CSV)
                    .body(to_csv(&value, &columns_of::<T>()))
            }
        }
    }
}

/// The rows of `answer`, as described in the module's documentation.
fn rows_of(answer: &Value) -> Vec<Map<String, Value>> {
    let Value::Object(fields) = answer else {
        return vec![];
    };
    let plain: Map<String, Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let lists: Vec<(&String, &Vec<Value>)> = fields
        .iter()
        .filter_map(|(k, v)| v.as_array().map(|rows| (k, rows)))
        .collect();
    if lists.is_empty() {
        return vec![plain];
    }
    let sectioned = lists.len() > 1;
    let mut rows = Vec::new();
    for (section, items) in lists {
        for item in items {
            let mut row = plain.clone();
            if sectioned {
                row.insert("section".to_owned(), Value::String(section.clone()));
            }
            match item {
                Value::Object(cells) => row.extend(cells.clone()),
                other => {
                    row.insert("value".to_owned(), other.clone());
                }
            }
            rows.push(row);
        }
    }
    rows
}

/// The schema `schema` names, seen through a lone `allOf` (how a described
/// reference is written).
fn resolve<'a>(registry: &'a Registry, schema: &'a MetaSchemaRef) -> Option<&'a MetaSchema> {
    let found = match schema {
        MetaSchemaRef::Inline(inline) => Some(inline.as_ref()),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }?;
    match found.all_of.as_slice() {
        [only] if found.ty.is_empty() => resolve(registry, only),
        _ => Some(found),
    }
}

/// The CSV columns of answers of type `T`, in the schema's order: its
/// plain fields, then `section` when it has several lists, then its lists'
/// item fields.
pub fn columns_of<T: Type>() -> Vec<String> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schema_ref = T::schema_ref();
    let Some(schema) = resolve(&registry, &schema_ref) else {
        return vec![];
    };
    let mut plain = Vec::new();
    let mut lists = Vec::new();
    for (name, property) in &schema.properties {
        match resolve(&registry, property) {
            Some(p) if p.ty == "array" => lists.push(p),
            Some(p) if p.ty == "object" => {}
            _ => plain.push((*name).to_owned()),
        }
    }
    let mut columns = plain;
    if lists.len() > 1 {
        columns.push("section".to_owned());
    }
    for list in lists {
        let item = list.items.as_deref().and_then(|i| resolve(&registry, i));
        for (name, _) in item.map(|i| i.properties.as_slice()).unwrap_or_default() {
            if !columns.iter().any(|c| c == name) {
                columns.push((*name).to_owned());
            }
        }
    }
    columns
}

/// `answer` as CSV with `columns`: a header row, then one row per item.
pub fn to_csv(answer: &Value, columns: &[String]) -> String {
    let rows = rows_of(answer);
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| cell(&Value::String(c.clone()))).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| row.get(c).map(cell).unwrap_or_default())
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV cell (RFC 4180 quoting; formulas defused).
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) => {
            let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
            if formula { format!("'{s}") } else { s.clone() }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn items_become_rows_with_plain_values_repeated() {
        let csv = to_csv(
            &json!({
                "price_at": "2026-12-01T00:00:00Z",
                "items": [{"model": "gpt-4", "cost_usd": "1.500000"}, {"model": "a,b \"c\"", "cost_usd": null}]
            }),
            &cols(&["price_at", "model", "cost_usd"]),
        );
        assert_eq!(
            csv,
            "price_at,model,cost_usd\r\n\
             2026-12-01T00:00:00Z,gpt-4,1.500000\r\n\
             2026-12-01T00:00:00Z,\"a,b \"\"c\"\"\",\r\n"
        );
    }

    #[test]
    fn several_lists_are_sections_and_plain_answers_one_row() {
        let csv = to_csv(
            &json!({"total": 3, "by_day": [{"day": "d1"}], "by_model": [{"model": "m"}]}),
            &cols(&["total", "section", "day", "model"]),
        );
        assert_eq!(
            csv,
            "total,section,day,model\r\n3,by_day,d1,\r\n3,by_model,,m\r\n"
        );
        assert_eq!(
            to_csv(&json!({"b": 2, "a": 1}), &cols(&["b", "a"])),
            "b,a\r\n2,1\r\n"
        );
        assert_eq!(to_csv(&json!({"items": []}), &cols(&["x"])), "x\r\n");
    }

    #[test]
    fn formulas_are_defused_but_numbers_are_not() {
        let csv = to_csv(
            &json!({"items": [{"name": "=HYPERLINK(\"x\")", "delta": "-1.5"}]}),
            &cols(&["name", "delta"]),
        );
        assert_eq!(csv, "name,delta\r\n\"'=HYPERLINK(\"\"x\"\")\",-1.5\r\n");
    }

    #[derive(Object)]
    struct Row {
        day: String,
        cost_usd: Option<String>,
    }

    #[derive(Object)]
    struct Other {
        model: String,
    }

    #[derive(Object)]
    struct Answer {
        project_id: String,
        by_day: Vec<Row>,
        by_model: Vec<Other>,
    }

    #[derive(Object)]
    struct Plain {
        b: i64,
        a: Option<i64>,
    }

    #[test]
    fn columns_follow_the_schema_even_with_no_rows() {
        assert_eq!(
            columns_of::<Answer>(),
            cols(&["project_id", "section", "day", "cost_usd", "model"])
        );
        assert_eq!(columns_of::<Plain>(), cols(&["b", "a"]));
    }
}
