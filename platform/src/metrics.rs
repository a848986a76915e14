//! The Prometheus registry and every metric the services export, in one
//! place so names and labels stay consistent. Served as text on `/metrics`.

use std::sync::LazyLock;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of a Zekka process.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route (the operation id), method and status.
    pub http_requests: IntCounterVec,
    /// HTTP request latency by route, method and status.
    pub http_duration: HistogramVec,
    /// The global position of the last event each projection applied.
    pub projection_position: IntGaugeVec,
    /// Events committed to the store that a projection has not applied yet.
    pub projection_lag_events: IntGaugeVec,
    /// WebSockets open on this process.
    pub websocket_connections: prometheus::IntGauge,
    /// How long the oldest event a projection has not applied has waited.
    pub projection_lag_seconds: GaugeVec,
    /// Events applied, by projection.
    pub projection_events_applied: IntCounterVec,
    /// Projection batches that failed, by projection.
    pub projection_errors: IntCounterVec,
    /// 1 while a projection fails (its batches are retried), else 0: what
    /// the shipped alert rule `ZekkaProjectionFailing` watches.
    pub projection_failing: IntGaugeVec,
    /// Events passed over because an operator skipped them, by projection.
    pub projection_events_skipped: IntCounterVec,
    /// argon2 runs by operation (`hash` a new password, `verify` a sign-in):
    /// the CPU sign-in costs, and proof that refused requests spend none.
    pub password_hashes: IntCounterVec,
    /// Time to apply one batch and advance the checkpoint, by projection.
    pub projection_batch_duration: HistogramVec,
    /// How late the runtime woke a task that asked to be woken
    /// (`runtime_probe`): time a request waits before any handler runs.
    pub runtime_wakeup_delay: prometheus::Histogram,
    /// Events each follower of the stream (orchestrator, webhook outbox)
    /// has acted on, and the ones it failed on (retried).
    pub follower_events: IntCounterVec,
    /// Webhook delivery attempts by outcome (`delivered`, `failed`).
    pub webhook_deliveries: IntCounterVec,
    /// Rows the retention sweeper removed, by rule.
    pub retention_removed: IntCounterVec,
    /// How far the read replica (`DATABASE_READ_URL`) is behind the
    /// primary, in seconds of commits not yet replayed (0 when it has
    /// replayed all it received).
    pub replica_lag_seconds: prometheus::Gauge,
    /// WAL the read replica has received but not replayed yet, in bytes.
    pub replica_replay_pending_bytes: prometheus::IntGauge,
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Registers `metric` and hands it back. Every definition here is a
/// constant of this module, registered once: neither construction nor
/// registration can fail, hence the `expect`s of the helpers below.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition"),
    )
}

fn float_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        registry,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition"),
    )
}

fn plain_histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> prometheus::Histogram {
    register(
        registry,
        prometheus::Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
            .expect("valid histogram definition"),
    )
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
            .expect("valid histogram definition"),
    )
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("zekka".into()), None).unwrap_or_default();
        let latency = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        Self {
            http_requests: counter(
                &registry,
                "http_requests_total",
                "HTTP requests by route, method and status",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                &registry,
                "http_request_duration_seconds",
                "HTTP request latency by route, method and status",
                &["route", "method", "status"],
                latency.clone(),
            ),
            projection_position: gauge(
                &registry,
                "projection_position",
                "Global position of the last event applied by each projection",
                &["projection"],
            ),
            projection_lag_events: gauge(
                &registry,
                "projection_lag_events",
                "Committed events not yet applied by each projection",
                &["projection"],
            ),
            websocket_connections: {
                // As in `counter`: a constant definition, registered once.
                let metric =
                    prometheus::IntGauge::new("websocket_connections", "WebSockets open on this process")
                        .expect("valid gauge definition");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("metric registered once");
                metric
            },
            projection_lag_seconds: float_gauge(
                &registry,
                "projection_lag_seconds",
                "Seconds the oldest event not yet applied by each projection has waited",
                &["projection"],
            ),
            projection_events_applied: counter(
                &registry,
                "projection_events_applied_total",
                "Events applied by each projection",
                &["projection"],
            ),
            projection_errors: counter(
                &registry,
                "projection_errors_total",
                "Failed projection batches",
                &["projection"],
            ),
            projection_failing: gauge(
                &registry,
                "projection_failing",
                "1 while the projection fails and is retried, else 0",
                &["projection"],
            ),
            projection_events_skipped: counter(
                &registry,
                "projection_events_skipped_total",
                "Events passed over because an operator skipped them",
                &["projection"],
            ),
            password_hashes: counter(
                &registry,
                "password_hashes_total",
                "argon2 runs, by operation (hash, verify)",
                &["operation"],
            ),
            projection_batch_duration: histogram(
                &registry,
                "projection_batch_duration_seconds",
                "Time to apply one batch and advance the checkpoint",
                &["projection"],
                latency,
            ),
            runtime_wakeup_delay: plain_histogram(
                &registry,
                "runtime_wakeup_delay_seconds",
                "How late the async runtime woke a task that asked to be woken every 10 ms",
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ],
            ),
            follower_events: counter(
                &registry,
                "follower_events_total",
                "Events each follower of the stream acted on (outcome ok) or failed on (outcome error, retried)",
                &["follower", "outcome"],
            ),
            webhook_deliveries: counter(
                &registry,
                "webhook_deliveries_total",
                "Webhook delivery attempts by outcome (delivered, failed)",
                &["outcome"],
            ),
            retention_removed: counter(
                &registry,
                "retention_removed_total",
                "Rows the retention sweeper removed, by rule (docs/privacy.md)",
                &["rule"],
            ),
            // As in `counter`: constant definitions, registered once.
            replica_lag_seconds: register(
                &registry,
                prometheus::Gauge::new(
                    "replica_lag_seconds",
                    "Seconds of commits the read replica has not replayed yet (0: it has replayed all it received)",
                )
                .expect("valid gauge definition"),
            ),
            replica_replay_pending_bytes: register(
                &registry,
                prometheus::IntGauge::new(
                    "replica_replay_pending_bytes",
                    "WAL the read replica has received and not replayed yet, in bytes",
                )
                .expect("valid gauge definition"),
            ),
            registry,
        }
    }

    /// The current values in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let mut families = self.registry.gather();
        families.extend(zekka_event_store::metrics::METRICS.gather());
        if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::warn!(%error, "failed to encode metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}
