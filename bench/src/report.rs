//! Results: one JSON line (for machines and `docs/performance.md`) and a
//! human table.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
///
/// # Panics
/// Never: the bounds are constants that hdrhistogram accepts.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

/// Records `elapsed` in `histogram`, saturating at its bounds.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000);
    histogram.saturating_record(micros);
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The summary of one latency series.
pub fn summary(histogram: &Histogram<u64>) -> serde_json::Value {
    json!({
        "count": histogram.len(),
        "p50_ms": ms(histogram.value_at_quantile(0.50)),
        "p90_ms": ms(histogram.value_at_quantile(0.90)),
        "p99_ms": ms(histogram.value_at_quantile(0.99)),
        "max_ms": ms(histogram.max()),
    })
}

/// Prints a table row for one series.
pub fn print_row(name: &str, histogram: &Histogram<u64>, seconds: f64) {
    println!(
        "{name:<14} {:>8} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        histogram.len(),
        histogram.len() as f64 / seconds,
        ms(histogram.value_at_quantile(0.50)),
        ms(histogram.value_at_quantile(0.90)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max()),
    );
}

/// Prints the table header.
pub fn print_header() {
    println!(
        "{:<14} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "series", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
}

/// Peak and current resident memory of `pid`, in MiB.
pub fn server_memory(pid: Option<u32>) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}
