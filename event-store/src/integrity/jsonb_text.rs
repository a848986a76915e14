//! PostgreSQL's text of a `jsonb` value (`payload::text`), produced in Rust
//! from the value the writer is about to store, so the writer can hash an
//! event exactly as [`super::event_hash`] and `zekka audit verify` will
//! read it back: keys ordered by length and then bytes, `", "` and `": "`
//! between items, strings escaped as `escape_json` does, and numbers as
//! `numeric` prints them (plain decimal, the literal's scale, no exponent,
//! no negative zero).

use serde_json::Value;

/// `value` as PostgreSQL prints it once stored as `jsonb`.
pub fn jsonb_text(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_numeric(&number.to_string(), out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            // jsonb keeps an object's keys shortest first, then bytewise.
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                if let Some(field) = fields.get(key) {
                    write_value(field, out);
                }
            }
            out.push('}');
        }
    }
}

/// PostgreSQL's `escape_json`: the two-character escapes it knows, `\u00xx`
/// (lower-case hex) for the other control characters, everything else as is.
fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number literal as `numeric_in` reads it and `numeric_out` prints
/// it: the scale is the literal's digits after the point less its
/// exponent (never below zero), the digits are written out in full.
fn write_numeric(literal: &str, out: &mut String) {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    let length = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let fraction_length = i64::try_from(fraction.len()).unwrap_or(i64::MAX);
    // Digits before the point, counted from the first of `digits`.
    let point = i64::try_from(whole.len()).unwrap_or(i64::MAX) + exponent;
    let scale = (fraction_length - exponent).max(0);
    let digit = |at: i64| -> char {
        usize::try_from(at)
            .ok()
            .filter(|_| at < length)
            .and_then(|at| digits.get(at))
            .map_or('0', |d| char::from(*d))
    };
    let mut integer: String = (0..point.max(0)).map(digit).collect();
    let significant = integer.trim_start_matches('0').len();
    integer = if significant == 0 {
        "0".to_owned()
    } else {
        integer[integer.len() - significant..].to_owned()
    };
    let decimals: String = (0..scale).map(|n| digit(point + n)).collect();
    if negative && digits.iter().any(|d| *d != b'0') {
        out.push('-');
    }
    out.push_str(&integer);
    if scale > 0 {
        out.push('.');
        out.push_str(&decimals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numeric(literal: &str) -> String {
        let mut out = String::new();
        write_numeric(literal, &mut out);
        out
    }

    #[test]
    fn numbers_print_as_numeric_does() {
        for (literal, printed) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("12", "12"),
            ("-12", "-12"),
            ("0.1", "0.1"),
            ("100.0", "100.0"),
            ("1e-7", "0.0000001"),
            ("1.25e-5", "0.0000125"),
            ("1.5e3", "1500"),
            ("1.5e1", "15"),
            ("1.55e1", "15.5"),
            ("1e16", "10000000000000000"),
            ("-2.5E+2", "-250"),
            ("007", "7"),
        ] {
            assert_eq!(numeric(literal), printed, "{literal}");
        }
    }

    #[test]
    fn objects_order_keys_by_length_then_bytes() {
        let value = json!({"bb": 1, "a": [true, null, "x"], "ab": {"z": -0.5}, "": "\u{1}\"\\\n"});
        assert_eq!(
            jsonb_text(&value),
            r#"{"": "\u0001\"\\\n", "a": [true, null, "x"], "ab": {"z": -0.5}, "bb": 1}"#
        );
    }
}
