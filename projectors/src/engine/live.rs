//! Running live: the lease, the wake-ups, the lag and health metrics.

use backon::{BackoffBuilder, ExponentialBuilder};

use super::*;

impl Projector {
    /// Refreshes the lag gauges: committed events not applied yet, and how
    /// long the oldest of them has waited.
    pub(super) async fn record_lag(&self) {
        let lag = async { measure_lag(&self.pool, self.position().await?).await }.await;
        match lag {
            Ok((events, seconds)) => {
                METRICS
                    .projection_lag_events
                    .with_label_values(&[self.name()])
                    .set(events);
                METRICS
                    .projection_lag_seconds
                    .with_label_values(&[self.name()])
                    .set(seconds);
            }
            Err(error) => tracing::debug!(projection = self.name(), %error, "could not measure lag"),
        }
    }

    /// Records that the projection fails (`Some`) or runs again (`None`),
    /// for `GET /api/v1/projections`.
    pub(super) async fn record_health(&self, failure: Option<&ProjectorError>) {
        let recorded = async {
            let client = self.pool.get().await?;
            match failure {
                Some(error) => {
                    let (position, event_type) = match error {
                        ProjectorError::Apply {
                            position, event_type, ..
                        } => (Some(position.global_position), Some(event_type.as_str())),
                        _ => (None, None),
                    };
                    let message = ErrorChain(error).to_string();
                    client
                        .execute(
                            "UPDATE projection_checkpoints
                                SET status = 'failed', error = $2, error_position = $3, error_event_type = $4,
                                    failing_since = coalesce(failing_since, now())
                              WHERE name = $1",
                            &[&self.checkpoint, &message, &position, &event_type],
                        )
                        .await?;
                }
                None => {
                    client
                        .execute(
                            "UPDATE projection_checkpoints
                                SET status = 'running', error = NULL, error_position = NULL,
                                    error_event_type = NULL, failing_since = NULL
                              WHERE name = $1",
                            &[&self.checkpoint],
                        )
                        .await?;
                }
            }
            Ok::<_, ProjectorError>(())
        }
        .await;
        if let Err(error) = recorded {
            tracing::debug!(projection = self.name(), %error, "could not record the projection's health");
        }
    }

    /// Runs until `shutdown`: applies batches while there are any, then
    /// sleeps until a `NOTIFY` or the poll interval (and, under load,
    /// `coalesce` more, to gather the next batch). A failure stops this
    /// projection only: it is logged, recorded in its status (with the
    /// event, for a poison event) and retried with back-off up to 30 s, so
    /// it resumes by itself once the cause is fixed, skipping nothing.
    ///
    /// A member of a [`ProjectorGroup`](super::ProjectorGroup) runs this
    /// loop only while the group has handed it over (behind the group, or
    /// failing): it catches up to the group's position, then rejoins.
    pub async fn run(
        self,
        mut wakeup: Wakeup,
        poll_interval: Duration,
        coalesce: Duration,
        mut shutdown: Shutdown,
        membership: Option<Membership>,
    ) {
        let mut delays = retry_delays();
        let mut lag_measured = Instant::now() - Duration::from_secs(60);
        let mut failing = false;
        let mut pacing = Pacing::new(coalesce);
        tracing::info!(projection = self.name(), "projector started");
        while !shutdown.is_triggered() {
            if let Some(member) = &membership
                && member.in_group()
            {
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = member.handed_over() => {}
                }
                continue;
            }
            let target = membership.as_ref().and_then(Membership::target);
            let result = self.run_once_until(target).await;
            if failing && result.is_ok() {
                failing = false;
                METRICS
                    .projection_failing
                    .with_label_values(&[self.name()])
                    .set(0);
                tracing::info!(projection = self.name(), "projection recovered");
                self.record_health(None).await;
            }
            let pause = match result {
                Ok(Outcome::Applied(applied)) => {
                    delays = retry_delays();
                    if lag_measured.elapsed() > Duration::from_secs(1) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    if i64::try_from(applied).unwrap_or(i64::MAX) >= self.batch_size || target.is_some() {
                        // More to apply, or catching up to the group.
                        continue;
                    }
                    // A short batch reached the end of what is committed:
                    // wait for the next commit instead of asking again.
                    poll_interval
                }
                Ok(Outcome::Idle) if target.is_some() => {
                    delays = retry_delays();
                    // At the group's position: rejoin, unless it moved on
                    // meanwhile (then catch up again at once).
                    let rejoined = match (&membership, self.position().await) {
                        (Some(member), Ok(position)) => member.rejoin_at(position),
                        _ => false,
                    };
                    if rejoined || membership.as_ref().and_then(Membership::target) != target {
                        continue;
                    }
                    poll_interval
                }
                Ok(Outcome::Idle | Outcome::Busy) => {
                    delays = retry_delays();
                    if lag_measured.elapsed() > Duration::from_secs(5) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    poll_interval
                }
                Err(error) => {
                    // An operator may have skipped the event meanwhile.
                    self.forget_skips();
                    METRICS.projection_errors.with_label_values(&[self.name()]).inc();
                    METRICS
                        .projection_failing
                        .with_label_values(&[self.name()])
                        .set(1);
                    tracing::error!(projection = self.name(), error = %ErrorChain(&error), "projection batch failed; retrying");
                    failing = true;
                    self.record_health(Some(&error)).await;
                    self.record_lag().await;
                    delays.next().unwrap_or(RETRY_CEILING)
                }
            };
            if failing {
                // Back off for real: new events do not hurry a retry.
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            } else if !pacing.wait(&mut wakeup, pause, &mut shutdown).await {
                break;
            }
        }
        tracing::info!(projection = self.name(), "projector stopped");
    }
}

/// Committed events after `position`, and how long the oldest of them has
/// waited (seconds).
pub(super) async fn measure_lag(pool: &ReadPool, position: Position) -> Result<(i64, f64), ProjectorError> {
    let client = pool.get().await?;
    let events = event_log::count_after(&client, position).await?;
    let seconds = event_log::seconds_behind(&client, position).await?;
    Ok((events, seconds))
}

/// When to look for the next batch: at the next commit's `NOTIFY` or after
/// a pause, and under load a little later.
pub(super) struct Pacing {
    coalesce: Duration,
    last_woken: Instant,
}

impl Pacing {
    /// Pacing that lets `coalesce` of commits gather under load.
    pub(super) fn new(coalesce: Duration) -> Self {
        Self {
            coalesce,
            last_woken: Instant::now() - Duration::from_secs(60),
        }
    }

    /// Waits for a commit or `pause`; false at shutdown. Under load (woken
    /// a moment ago) it lets the commits of the next `coalesce` join the
    /// next batch: one transaction for many events instead of one each, at
    /// the price of `coalesce` of lag. An idle projector answers the first
    /// commit at once.
    pub(super) async fn wait(
        &mut self,
        wakeup: &mut Wakeup,
        pause: Duration,
        shutdown: &mut Shutdown,
    ) -> bool {
        let woken = tokio::select! {
            () = shutdown.wait() => return false,
            () = wakeup.notified() => true,
            () = tokio::time::sleep(pause) => false,
        };
        if woken {
            if !self.coalesce.is_zero() && self.last_woken.elapsed() < self.coalesce * 4 {
                tokio::time::sleep(self.coalesce).await;
            }
            self.last_woken = Instant::now();
        }
        true
    }
}

/// The longest pause before a failed batch is tried again.
pub(super) const RETRY_CEILING: Duration = Duration::from_secs(30);

/// Pauses before a failed batch is tried again: 100 ms doubling up to
/// [`RETRY_CEILING`], with jitter.
pub(super) fn retry_delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(RETRY_CEILING)
        .with_jitter()
        .without_max_times()
        .build()
}
