//! The store's metrics: commands, appends, the queues of the command path
//! and the pools. Kept in a registry of their own, which the process's
//! `/metrics` serves beside the services' (`zekka_platform::metrics`).

use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Every metric of the event store.
pub struct StoreMetrics {
    registry: Registry,
    /// Commands by name and outcome (`ok`, `rejected`, `conflict`, `error`, `retried`).
    pub commands: IntCounterVec,
    /// Events appended to the store, by aggregate type.
    pub events_appended: IntCounterVec,
    /// Database connections by pool (`read`, `write`) and state (`in_use`, `idle`, `max`).
    pub db_pool_connections: IntGaugeVec,
    /// Time a command waits at one queue of its path, by queue
    /// (`stream_turn`, `store_read_connection`, `group_commit_slot`), to
    /// tell which one builds up under load.
    pub command_wait: HistogramVec,
}

/// The process-wide store metrics.
pub static METRICS: LazyLock<StoreMetrics> = LazyLock::new(StoreMetrics::new);

/// Registers `metric` and hands it back. Every definition here is a
/// constant of this module, registered once in a fresh registry: neither
/// construction nor registration can fail, hence the `expect`s.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

impl StoreMetrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("zekka".into()), None).unwrap_or_default();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"),
            )
        };
        Self {
            commands: counter(
                "commands_total",
                "Commands by name and outcome",
                &["command", "outcome"],
            ),
            events_appended: counter(
                "events_appended_total",
                "Events appended to the event store by aggregate type",
                &["aggregate_type"],
            ),
            db_pool_connections: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "db_pool_connections",
                        "Database connections by pool and state (sampled every few seconds)",
                    ),
                    &["pool", "state"],
                )
                .expect("valid gauge definition"),
            ),
            command_wait: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "command_wait_seconds",
                        "Time a command waits at one queue of its path",
                    )
                    .buckets(vec![
                        0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    ]),
                    &["queue"],
                )
                .expect("valid histogram definition"),
            ),
            registry,
        }
    }

    /// The current values, for the process's `/metrics`.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}
