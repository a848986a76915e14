//! How responsive the async runtime is: a task asks to be woken every
//! [`PROBE_INTERVAL`] and records how late each wake-up came
//! (`zekka_runtime_wakeup_delay_seconds`). A request that arrives while
//! every worker is busy waits about as long, before any handler or
//! middleware starts its clock, so this is the part of a latency tail
//! that the HTTP histograms cannot see.

use std::time::{Duration, Instant};

use crate::metrics::METRICS;
use crate::shutdown::Shutdown;

/// How often the probe asks to be woken. Tokio's timer has a resolution of
/// one millisecond, so a delay below that is the timer, not the load.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// Records wake-up delays until `shutdown`.
pub async fn run(mut shutdown: Shutdown) {
    loop {
        let due = Instant::now() + PROBE_INTERVAL;
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {}
            () = shutdown.wait() => return,
        }
        let late = Instant::now().saturating_duration_since(due);
        METRICS.runtime_wakeup_delay.observe(late.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wake-ups recorded later than the bucket bound `seconds`.
    fn samples_later_than(seconds: f64) -> u64 {
        let histogram = &METRICS.runtime_wakeup_delay;
        let within: u64 = prometheus::core::Collector::collect(histogram)
            .first()
            .and_then(|family| family.get_metric().first())
            .and_then(|metric| {
                metric
                    .get_histogram()
                    .get_bucket()
                    .iter()
                    .find(|bucket| (bucket.upper_bound() - seconds).abs() < 1e-9)
                    .map(|bucket| bucket.cumulative_count())
            })
            .unwrap_or(0);
        histogram.get_sample_count() - within
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_worker_blocked_for_60_ms_shows_as_a_wake_up_that_late() {
        let (trigger, shutdown) = crate::shutdown::channel();
        let probe = tokio::spawn(run(shutdown));
        tokio::time::sleep(PROBE_INTERVAL * 3).await;
        let before = samples_later_than(0.025);
        // The only worker of this runtime is busy: nothing else runs.
        std::thread::sleep(Duration::from_millis(60));
        tokio::time::sleep(PROBE_INTERVAL * 3).await;
        assert!(
            samples_later_than(0.025) > before,
            "the 60-ms stall was not recorded as a late wake-up"
        );
        trigger.trigger();
        probe.await.expect("the probe ends at shutdown");
    }
}
