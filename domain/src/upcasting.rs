//! Schema evolution: events keep the version they were written with, and
//! upcasters turn old versions into the current shape whenever they are
//! read — by `cqrs-es` on the command side (`with_upcasters`), and by
//! [`upcast`] for the projectors and the audit routes, which read the
//! table themselves. The stored events never change.
//!
//! | event | version | change |
//! |---|---|---|
//! | `TokenUsageRecorded` | 2.0 | adds `input_cost_usd` and `output_cost_usd`, the two parts of `cost_usd` |

use std::sync::LazyLock;

use std::str::FromStr;

use cqrs_es::persist::{EventUpcaster, SemanticVersion, SerializedEvent};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::pricing::per_million;

/// `TokenUsageRecorded` 1.0 → 2.0: the cost split into input and output,
/// computed exactly from the token counts and prices the event already
/// carries (so `input + output = cost_usd` holds for old events too).
fn token_usage_v2(mut payload: Value) -> Value {
    let Some(usage) = payload
        .get_mut("TokenUsageRecorded")
        .and_then(Value::as_object_mut)
    else {
        return payload;
    };
    let tokens = |name: &str| usage.get(name).and_then(Value::as_u64).unwrap_or(0);
    let price = |name: &str| {
        usage
            .get(name)
            .and_then(|v| match v {
                Value::String(text) => text.parse::<Decimal>().ok(),
                Value::Number(number) => number.to_string().parse::<Decimal>().ok(),
                _ => None,
            })
            .unwrap_or(Decimal::ZERO)
    };
    let input = per_million(tokens("input_tokens"), price("input_usd_per_million"));
    let output = per_million(tokens("output_tokens"), price("output_usd_per_million"));
    usage.insert("input_cost_usd".to_owned(), Value::String(input.to_string()));
    usage.insert("output_cost_usd".to_owned(), Value::String(output.to_string()));
    payload
}

/// Turns `event_type` events older than `version` into that version's
/// shape, and labels them with `version` exactly as the domain writes it
/// (cqrs-es's own semantic-version upcaster would relabel `2.0` as `2.0.0`).
struct Upcaster {
    event_type: &'static str,
    version: &'static str,
    transform: fn(Value) -> Value,
}

impl Upcaster {
    fn is_older(&self, version: &str) -> bool {
        match (
            SemanticVersion::from_str(self.version),
            SemanticVersion::from_str(version),
        ) {
            (Ok(target), Ok(version)) => target.supersedes(&version),
            _ => false,
        }
    }
}

impl EventUpcaster for Upcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == self.event_type && self.is_older(event_version)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = (self.transform)(event.payload);
        self.version.clone_into(&mut event.event_version);
        event
    }
}

/// Every upcaster, in the order they apply (oldest version first).
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(Upcaster {
        event_type: "TokenUsageRecorded",
        version: "2.0",
        transform: token_usage_v2,
    })]
}

static UPCASTERS: LazyLock<Vec<Box<dyn EventUpcaster>>> = LazyLock::new(upcasters);

/// `payload` of an `event_type` event written as `event_version`, in the
/// current shape, with its current version.
pub fn upcast(event_type: &str, event_version: &str, payload: Value) -> (String, Value) {
    let mut event = SerializedEvent {
        aggregate_id: String::new(),
        sequence: 0,
        aggregate_type: String::new(),
        event_type: event_type.to_owned(),
        event_version: event_version.to_owned(),
        payload,
        metadata: Value::Null,
    };
    for upcaster in UPCASTERS.iter() {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            event = upcaster.upcast(event);
        }
    }
    (event.event_version, event.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectEvent;

    fn v1() -> Value {
        serde_json::json!({"TokenUsageRecorded": {
            "usage_id": "0190b7a0-0000-7000-8000-000000000001",
            "agent_id": "0190b7a0-0000-7000-8000-000000000002",
            "model": "claude-sonnet", "input_tokens": 1_000_000, "output_tokens": 500_000,
            "conversation_id": null, "task_id": null,
            "input_usd_per_million": "3.00", "output_usd_per_million": "15.00",
            "cost_usd": "10.5", "spent_usd": "10.5"}})
    }

    #[test]
    fn a_version_1_usage_event_reads_as_version_2_with_its_cost_split_exactly() {
        let (version, payload) = upcast("TokenUsageRecorded", "1.0", v1());
        assert_eq!(version, "2.0");
        let event: ProjectEvent = serde_json::from_value(payload).expect("the current shape");
        let ProjectEvent::TokenUsageRecorded {
            cost_usd,
            input_cost_usd,
            output_cost_usd,
            ..
        } = event
        else {
            panic!("not a usage event");
        };
        assert_eq!(input_cost_usd, Decimal::from(3));
        assert_eq!(output_cost_usd, Decimal::new(75, 1));
        assert_eq!(input_cost_usd + output_cost_usd, cost_usd);
    }

    #[test]
    fn current_and_other_events_pass_unchanged() {
        let (version, payload) = upcast("TokenUsageRecorded", "2.0", v1());
        assert_eq!((version.as_str(), payload), ("2.0", v1()));
        let other = serde_json::json!({"ProjectArchived": {}});
        assert_eq!(
            upcast("ProjectArchived", "1.0", other.clone()),
            ("1.0".to_owned(), other)
        );
    }

    #[test]
    fn a_version_1_event_does_not_deserialise_without_the_upcaster() {
        assert!(serde_json::from_value::<ProjectEvent>(v1()).is_err());
    }
}
