//! What the audit shows of an event: secrets kept as digests redacted for
//! everyone, the request's address and user agent only for auditors and
//! the person who sent it.

use serde_json::Value;
use zekka_platform::tokens::AccessClaims;

use super::{AuditEvent, sees_everything};

/// Keys whose values are secrets kept as digests (token and password
/// hashes, API-key digests, the rotated refresh-token hashes): shown
/// redacted, whatever event or state holds them (security review F11).
fn is_secret(key: &str) -> bool {
    key == "hash"
        || key.ends_with("_hash")
        || key.ends_with("_hashes")
        || key.ends_with("_digest")
        || key == "secret"
}

/// Replaces a secret's value (a string, or a list of them) with `"[redacted]"`.
fn redact(value: &mut Value) {
    match value {
        Value::String(_) => *value = Value::String("[redacted]".to_owned()),
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `value` with every secret digest replaced by `"[redacted]"`.
pub(crate) fn redacted(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if is_secret(key) {
                        redact(inner);
                    } else {
                        walk(inner);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// `event` as `claims` may see it: the client's address and user agent of
/// the request that wrote it only for auditors, admins and the person who
/// sent it (security review F11).
pub(super) fn seen_by(mut event: AuditEvent, claims: &AccessClaims) -> AuditEvent {
    let own = event.actor.as_deref() == Some(claims.user_id.to_string().as_str());
    if !own && !sees_everything(claims) {
        event.client_ip = None;
        event.user_agent = None;
    }
    event
}
