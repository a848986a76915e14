//! How a setting's text becomes its value: the parsers clap calls for the
//! settings whose type or bounds its own parsers do not know. Each trims the
//! text first (an environment file's stray space is not an error) and clamps
//! a number to its bounds rather than refusing it, as the settings promise.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use super::Secret;

/// A number, trimmed.
pub(super) fn whole<T>(raw: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim()
        .parse()
        .map_err(|error| format!("{error} (a whole number is expected)"))
}

/// A count of at least `MIN`, in the type the setting holds.
pub(super) fn at_least<T, const MIN: u64>(raw: &str) -> Result<T, String>
where
    T: TryFrom<u64>,
{
    let count = whole::<u64>(raw)?.max(MIN);
    T::try_from(count).map_err(|_| format!("{count} is too large"))
}

/// A count between `MIN` and `MAX`, in the type the setting holds.
pub(super) fn between<T, const MIN: u64, const MAX: u64>(raw: &str) -> Result<T, String>
where
    T: TryFrom<u64>,
{
    let count = whole::<u64>(raw)?.clamp(MIN, MAX);
    T::try_from(count).map_err(|_| format!("{count} is too large"))
}

/// Seconds, at least `MIN`.
pub(super) fn seconds<const MIN: u64>(raw: &str) -> Result<Duration, String> {
    Ok(Duration::from_secs(whole::<u64>(raw)?.max(MIN)))
}

/// Milliseconds, between `MIN` and `MAX`.
pub(super) fn millis<const MIN: u64, const MAX: u64>(raw: &str) -> Result<Duration, String> {
    Ok(Duration::from_millis(whole::<u64>(raw)?.clamp(MIN, MAX)))
}

/// `1`/`true`/`yes` or `0`/`false`/`no`.
pub(super) fn yes_or_no(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(format!("{other:?} is neither 1/true/yes nor 0/false/no")),
    }
}

/// How many proxies to trust: a number, or `true` (one) / `false` (none).
pub(super) fn proxy_hops(raw: &str) -> Result<usize, String> {
    match raw.trim() {
        "false" | "no" => Ok(0),
        "true" | "yes" => Ok(1),
        hops => hops
            .parse()
            .map_err(|_| format!("{hops:?} is not a number of proxies (or true/false)")),
    }
}

/// A secret, kept out of every log.
pub(super) fn secret(raw: &str) -> Result<Secret, String> {
    Ok(Secret::new(raw.trim()))
}

/// One item of a list of e-mail addresses: trimmed and lower-cased (an empty
/// item, from a stray comma, is dropped after parsing).
pub(super) fn email(raw: &str) -> Result<String, String> {
    Ok(raw.trim().to_lowercase())
}

/// One item of a list, trimmed.
pub(super) fn item(raw: &str) -> Result<String, String> {
    Ok(raw.trim().to_owned())
}

/// A URL without its trailing slashes, so paths can be appended to it.
pub(super) fn base_url(raw: &str) -> Result<String, String> {
    Ok(raw.trim().trim_end_matches('/').to_owned())
}

/// One arbitrator of the chain: `rules` or `ollama:<model>`.
pub(super) fn arbitrator(raw: &str) -> Result<String, String> {
    let step = raw.trim();
    let valid = step.is_empty()
        || step == "rules"
        || step
            .strip_prefix("ollama:")
            .is_some_and(|model| !model.trim().is_empty());
    if valid {
        Ok(step.to_owned())
    } else {
        Err(format!("{step:?} is neither `rules` nor `ollama:<model>`"))
    }
}

/// A positive, finite number.
pub(super) fn positive(raw: &str) -> Result<f64, String> {
    let number: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if number.is_finite() && number > 0.0 {
        Ok(number)
    } else {
        Err("it must be positive".to_owned())
    }
}
