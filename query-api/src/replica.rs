//! The read replica (`DATABASE_READ_URL`): how far behind the primary it
//! is, sampled into `zekka_replica_lag_seconds` and
//! `zekka_replica_replay_pending_bytes`.

use std::time::Duration;

use zekka_event_store::database::ReadPool;
use zekka_platform::metrics::METRICS;
use zekka_platform::shutdown::Shutdown;

/// How often the replica's lag is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// The replica's lag: seconds since the last commit it replayed while it
/// has received WAL it has not replayed (else 0: an idle primary is not
/// lag), and the bytes received but not replayed.
const LAG: &str = "
SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL
              OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0::float8
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8 END,
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::int8,
       pg_is_in_recovery()";

/// Samples the replica's lag until `shutdown`; a failed sample is logged
/// and the next one tried.
pub async fn sample_lag(replica: ReadPool, shutdown: Shutdown) {
    let mut warned_primary = false;
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.clone().signalled() => return,
            _ = ticks.tick() => {}
        }
        let sample = async {
            let client = replica.get().await?;
            let row = client.query_one(LAG, &[]).await?;
            anyhow::Ok((
                row.try_get::<_, f64>(0)?,
                row.try_get::<_, i64>(1)?,
                row.try_get::<_, bool>(2)?,
            ))
        };
        match sample.await {
            Ok((seconds, bytes, in_recovery)) => {
                METRICS.replica_lag_seconds.set(seconds);
                METRICS.replica_replay_pending_bytes.set(bytes);
                if !in_recovery && !warned_primary {
                    tracing::warn!(
                        "DATABASE_READ_URL names a database that is not a replica (not in recovery)"
                    );
                    warned_primary = true;
                }
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "could not sample the read replica's lag")
            }
        }
    }
}
