//! Every live projection in step: one transaction, one lease statement, one
//! catch-up read and one checkpoint statement per batch for all of them,
//! instead of each projection paying for its own.
//!
//! A member that is not in step leaves the group and is driven by its own
//! loop ([`Projector::run`]) until it is back at the group's position: one
//! behind (a new projection, a reset one, one another process moved) and,
//! above all, one that fails. A batch one member cannot apply is applied
//! again with every member under a savepoint; the failing member is rolled
//! back and handed to its own loop, which names the event, records the
//! failure and retries with back-off, while the group commits the others:
//! one projection's poison event stops only that projection.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::*;

/// Where the group stands, shared by its loop and its members' own loops.
pub(super) struct Roster {
    /// The position every member the group drives has reached, once known.
    position: Mutex<Option<Position>>,
    /// Per member: driven by its own loop (behind the group, or failing).
    on_its_own: Vec<AtomicBool>,
    /// Per member: wakes its own loop when the group hands it over.
    handed_over: Vec<Notify>,
}

/// One member's view of the group, given to its own loop.
#[derive(Clone)]
pub struct Membership {
    roster: Arc<Roster>,
    index: usize,
}

impl Membership {
    /// Whether the group drives this member now.
    pub(super) fn in_group(&self) -> bool {
        !self.roster.on_its_own[self.index].load(Ordering::Acquire)
    }

    /// Waits until the group hands this member over to its own loop.
    pub(super) async fn handed_over(&self) {
        while self.in_group() {
            self.roster.handed_over[self.index].notified().await;
        }
    }

    /// The group's position: how far the member's own loop catches up.
    pub(super) fn target(&self) -> Option<Position> {
        self.roster.position.lock().ok().and_then(|p| *p)
    }

    /// Rejoins the group when `position` is the group's; whether it did.
    pub(super) fn rejoin_at(&self, position: Position) -> bool {
        let Ok(group) = self.roster.position.lock() else {
            return false;
        };
        if *group != Some(position) {
            return false;
        }
        self.roster.on_its_own[self.index].store(false, Ordering::Release);
        true
    }
}

/// The live projectors of a process, applied in step.
pub struct ProjectorGroup {
    members: Vec<Projector>,
    roster: Arc<Roster>,
}

/// How the group applies a batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Every member straight into the transaction (a failure rolls all back).
    None,
    /// Each member under a savepoint: one that fails is rolled back alone.
    PerMember,
}

impl ProjectorGroup {
    /// A group of `members` (live projectors on one pool and one key ring).
    pub fn new(members: Vec<Projector>) -> Self {
        let roster = Roster {
            position: Mutex::new(None),
            on_its_own: members.iter().map(|_| AtomicBool::new(false)).collect(),
            handed_over: members.iter().map(|_| Notify::new()).collect(),
        };
        Self {
            members,
            roster: Arc::new(roster),
        }
    }

    /// The handle member `index`'s own loop watches.
    pub fn membership(&self, index: usize) -> Membership {
        Membership {
            roster: self.roster.clone(),
            index,
        }
    }

    /// The members, in order.
    pub fn members(&self) -> &[Projector] {
        &self.members
    }

    /// Hands member `index` over to its own loop.
    fn hand_over(&self, index: usize) {
        if !self.roster.on_its_own[index].swap(true, Ordering::AcqRel) {
            tracing::info!(
                projection = self.members[index].name(),
                "projection left the group; its own loop drives it"
            );
        }
        self.roster.handed_over[index].notify_one();
    }

    /// Applies the next batch to every member in step and advances their
    /// checkpoints together.
    ///
    /// # Errors
    /// When the database fails. A member that cannot apply the batch is
    /// not an error of the group: it is handed over to its own loop.
    pub async fn run_once(&self) -> Result<Outcome, ProjectorError> {
        let span = tracing::info_span!(
            "projector_group_batch",
            members = tracing::field::Empty,
            events = tracing::field::Empty
        );
        let started = Instant::now();
        let outcome = match self
            .apply_next(Isolation::None, &span)
            .instrument(span.clone())
            .await
        {
            Err(ProjectorError::Batch(error)) => {
                tracing::warn!(%error, "group batch failed; applying it again with each projection apart");
                self.apply_next(Isolation::PerMember, &span)
                    .instrument(span.clone())
                    .await
            }
            other => other,
        };
        match outcome {
            Ok(Outcome::Applied(n)) => {
                span.record("events", n);
                let seconds = started.elapsed().as_secs_f64();
                for member in self.in_step() {
                    METRICS
                        .projection_batch_duration
                        .with_label_values(&[member.name()])
                        .observe(seconds);
                }
                Ok(Outcome::Applied(n))
            }
            // Lost a race for a checkpoint (see `Projector::run_once_until`).
            Err(ProjectorError::CheckpointMoved) => Ok(Outcome::Busy),
            other => other,
        }
    }

    /// The members the group drives now.
    fn in_step(&self) -> impl Iterator<Item = &Projector> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.roster.on_its_own[*i].load(Ordering::Acquire))
            .map(|(_, member)| member)
    }

    async fn apply_next(
        &self,
        isolation: Isolation,
        span: &tracing::Span,
    ) -> Result<Outcome, ProjectorError> {
        let candidates: Vec<usize> = (0..self.members.len())
            .filter(|i| !self.roster.on_its_own[*i].load(Ordering::Acquire))
            .collect();
        let Some(first) = candidates.first().map(|i| &self.members[*i]) else {
            return Ok(Outcome::Idle);
        };
        let mut client = first.pool.get().await?;
        let tx = client.transaction().await?;
        // Every candidate's lease and checkpoint in one statement, and the
        // transaction's asynchronous commit (see `Projector::apply_next`).
        let names: Vec<&str> = candidates.iter().map(|i| self.members[*i].checkpoint()).collect();
        let keys: Vec<i64> = names.iter().map(|name| lease_key(name)).collect();
        let statement = tx
            .prepare_cached(
                "SELECT pg_try_advisory_xact_lock(m.key), c.transaction_id, c.global_position,
                        set_config('synchronous_commit', 'off', true)
                   FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS m (name, key, n)
                   LEFT JOIN projection_checkpoints c ON c.name = m.name
                  ORDER BY m.n",
            )
            .await?;
        let rows = tx.query(&statement, &[&names, &keys]).await?;
        let mut leased: Vec<(usize, Option<Position>)> = Vec::with_capacity(candidates.len());
        for (index, row) in candidates.iter().zip(&rows) {
            if !row.try_get::<_, bool>(0)? {
                // Held elsewhere (another process, a rebuild's swap): not now.
                continue;
            }
            let position = match row.try_get::<_, Option<Xid8>>(1)? {
                Some(transaction_id) => Some(Position {
                    transaction_id,
                    global_position: row.try_get(2)?,
                }),
                None => None,
            };
            leased.push((*index, position));
        }
        // The group goes on from the furthest of them; one behind catches
        // up on its own (its own loop stops at the group's position, so it
        // never overtakes it) and rejoins there.
        let Some(from) = leased.iter().filter_map(|(_, p)| *p).max() else {
            return Ok(Outcome::Idle);
        };
        let mut in_step = Vec::with_capacity(leased.len());
        for (index, position) in leased {
            if position == Some(from) {
                in_step.push(index);
            } else {
                self.hand_over(index);
            }
        }
        if let Ok(mut position) = self.roster.position.lock() {
            *position = Some(from);
        }
        span.record("members", in_step.len());
        let mut types: Vec<&str> = Vec::new();
        for index in &in_step {
            for kind in self.members[*index].projection.aggregate_types() {
                if !types.contains(kind) {
                    types.push(kind);
                }
            }
        }
        let mut events = event_log::read_between(&tx, from, None, first.batch_size, &types).await?;
        if events.is_empty() {
            return Ok(Outcome::Idle);
        }
        first.personal.open_events(&tx, &mut events).await?;

        let mut advanced = Vec::with_capacity(in_step.len());
        for index in in_step {
            let member = &self.members[index];
            let member_types = member.projection.aggregate_types();
            let skips = member.skips(&*tx).await?;
            let relevant = relevant(&events, member_types, &skips);
            if relevant.is_empty() {
                advanced.push(index);
                continue;
            }
            match isolation {
                Isolation::None => {
                    member
                        .projection
                        .apply_batch(&tx, &relevant)
                        .await
                        .map_err(ProjectorError::Batch)?;
                    advanced.push(index);
                }
                Isolation::PerMember => {
                    tx.batch_execute("SAVEPOINT one_projection").await?;
                    match member.projection.apply_batch(&tx, &relevant).await {
                        Ok(()) => {
                            tx.batch_execute("RELEASE SAVEPOINT one_projection").await?;
                            advanced.push(index);
                        }
                        Err(error) => {
                            tx.batch_execute("ROLLBACK TO SAVEPOINT one_projection").await?;
                            tracing::warn!(projection = member.name(), %error, "projection cannot apply the batch; its own loop takes it over");
                            self.hand_over(index);
                        }
                    }
                }
            }
        }
        if advanced.is_empty() {
            return Ok(Outcome::Idle);
        }
        let last = events[events.len() - 1].position;
        let names: Vec<&str> = advanced.iter().map(|i| self.members[*i].checkpoint()).collect();
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        // Guarded by the position they were all read at; the real-time hub
        // is told of each, at commit (see `Projector::advance`).
        let statement = tx
            .prepare_cached(
                "WITH advanced AS (
                     UPDATE projection_checkpoints
                        SET transaction_id = $2, global_position = $3,
                            events_applied = events_applied + $4, updated_at = now()
                      WHERE name = ANY($1) AND (transaction_id, global_position) = ($5, $6)
                     RETURNING name
                 )
                 SELECT count(pg_notify($7, name)::text) FROM advanced",
            )
            .await?;
        let moved: i64 = tx
            .query_one(
                &statement,
                &[
                    &names,
                    &last.transaction_id,
                    &last.global_position,
                    &count,
                    &from.transaction_id,
                    &from.global_position,
                    &zekka_event_store::wakeup::PROJECTED_CHANNEL,
                ],
            )
            .await?
            .try_get(0)?;
        if usize::try_from(moved).ok() != Some(names.len()) {
            return Err(ProjectorError::CheckpointMoved);
        }
        tx.commit().await?;
        if let Ok(mut position) = self.roster.position.lock() {
            *position = Some(last);
        }
        for index in advanced {
            let name = self.members[index].name();
            METRICS
                .projection_events_applied
                .with_label_values(&[name])
                .inc_by(u64::try_from(count).unwrap_or(0));
            METRICS
                .projection_position
                .with_label_values(&[name])
                .set(last.global_position);
        }
        Ok(Outcome::Applied(events.len()))
    }

    /// Refreshes the lag gauges of the members in step, measured once.
    async fn record_lag(&self) {
        let Some(position) = self.roster.position.lock().ok().and_then(|p| *p) else {
            return;
        };
        let Some(first) = self.members.first() else {
            return;
        };
        let lag = live::measure_lag(&first.pool, position).await;
        match lag {
            Ok((events, seconds)) => {
                for member in self.in_step() {
                    METRICS
                        .projection_lag_events
                        .with_label_values(&[member.name()])
                        .set(events);
                    METRICS
                        .projection_lag_seconds
                        .with_label_values(&[member.name()])
                        .set(seconds);
                }
            }
            Err(error) => tracing::debug!(%error, "could not measure the group's lag"),
        }
    }

    /// Runs the group and every member's own loop until `shutdown`: the
    /// group applies batches while there are any, then sleeps until a
    /// `NOTIFY` or the poll interval (and, under load, `coalesce` more, to
    /// gather the next batch). A database failure is retried with back-off.
    pub async fn run(self, wakeup: Wakeup, poll_interval: Duration, coalesce: Duration, shutdown: Shutdown) {
        let own_loops: Vec<_> = self
            .members
            .iter()
            .enumerate()
            .map(|(index, member)| {
                tokio::spawn(member.clone().run(
                    wakeup.clone(),
                    poll_interval,
                    coalesce,
                    shutdown.clone(),
                    Some(self.membership(index)),
                ))
            })
            .collect();
        self.run_group(wakeup, poll_interval, coalesce, shutdown).await;
        for task in own_loops {
            if let Err(error) = task.await {
                tracing::error!(%error, "a projector task failed");
            }
        }
    }

    async fn run_group(
        &self,
        mut wakeup: Wakeup,
        poll_interval: Duration,
        coalesce: Duration,
        mut shutdown: Shutdown,
    ) {
        let mut delays = live::retry_delays();
        let mut lag_measured = Instant::now() - Duration::from_secs(60);
        let mut pacing = live::Pacing::new(coalesce);
        tracing::info!(members = self.members.len(), "projector group started");
        while !shutdown.is_triggered() {
            let pause = match self.run_once().await {
                Ok(outcome) => {
                    delays = live::retry_delays();
                    let busy = matches!(outcome, Outcome::Applied(_));
                    if lag_measured.elapsed() > Duration::from_secs(if busy { 1 } else { 5 }) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    match outcome {
                        Outcome::Applied(applied)
                            if i64::try_from(applied).unwrap_or(i64::MAX) >= self.batch_size() =>
                        {
                            continue;
                        }
                        _ => poll_interval,
                    }
                }
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "projector group batch failed; retrying");
                    let pause = delays.next().unwrap_or(live::RETRY_CEILING);
                    tokio::select! {
                        () = shutdown.wait() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    continue;
                }
            };
            if !pacing.wait(&mut wakeup, pause, &mut shutdown).await {
                break;
            }
        }
        tracing::info!("projector group stopped");
    }

    fn batch_size(&self) -> i64 {
        self.members.first().map_or(1, |m| m.batch_size)
    }
}
