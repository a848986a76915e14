//! The shadow schema a rebuild writes into: prepared like the live tables,
//! compared with them, and swapped in.

use super::*;

/// Lets the rebuilt projection complete its tables (rollups derived once),
/// committed before they are compared.
pub(super) async fn finish_shadow(shadow: &Projector) -> Result<(), RebuildError> {
    let mut client = shadow.pool().get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO {}, public",
        shadow_schema(shadow.name())
    ))
    .await?;
    shadow
        .projection()
        .finish_rebuild(&tx)
        .await
        .map_err(|e| RebuildError::Projector(ProjectorError::Batch(e)))?;
    tx.commit().await?;
    Ok(())
}

/// Creates the shadow schema and its checkpoint, unless an interrupted
/// rebuild left them (then it resumes).
pub(super) async fn prepare_shadow(live: &Projector) -> Result<(), RebuildError> {
    let name = live.name();
    let schema = shadow_schema(name);
    let mut client = live.pool().get().await?;
    let tx = client.transaction().await?;
    let resumable = tx
        .query_opt(
            "SELECT 1 FROM projection_checkpoints c, pg_namespace n
              WHERE c.name = $1 AND n.nspname = $2",
            &[&shadow_checkpoint(name), &schema],
        )
        .await?
        .is_some();
    if resumable {
        tracing::info!(projection = name, "resuming an interrupted rebuild");
        return Ok(());
    }
    let mut ddl = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};");
    for table in live.projection().tables() {
        ddl.push_str(&format!(
            "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL);"
        ));
    }
    tx.batch_execute(&ddl).await?;
    // Bulk loading is much faster without the secondary indexes: they are
    // built once the shadow has caught up (`build_deferred_indexes`). Unique
    // ones stay, since upserts rely on them.
    let secondary = tx
        .query(
            "SELECT i.relname::text FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid
               JOIN pg_namespace n ON n.oid = i.relnamespace
              WHERE n.nspname = $1 AND NOT x.indisunique",
            &[&schema],
        )
        .await?;
    for row in secondary {
        let index: String = row.try_get(0)?;
        tx.batch_execute(&format!("DROP INDEX {schema}.{index}")).await?;
    }
    tx.execute(
        "INSERT INTO projection_checkpoints (name) VALUES ($1)
         ON CONFLICT (name) DO UPDATE SET transaction_id = '0', global_position = 0, events_applied = 0,
                                          status = 'running', error = NULL",
        &[&shadow_checkpoint(name)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Builds in the shadow every secondary index the live tables have, under
/// the live index's name (skipping those a resumed rebuild built already).
pub(super) async fn build_deferred_indexes(live: &Projector) -> Result<(), RebuildError> {
    let schema = shadow_schema(live.name());
    let client = live.pool().get().await?;
    let tables: Vec<String> = live
        .projection()
        .tables()
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    let missing = client
        .query(
            "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid
               JOIN pg_class t ON t.oid = x.indrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE n.nspname = 'public' AND t.relname = ANY($1) AND NOT x.indisunique
                AND NOT EXISTS (SELECT 1 FROM pg_class s JOIN pg_namespace sn ON sn.oid = s.relnamespace
                                 WHERE sn.nspname = $2 AND s.relname = i.relname)",
            &[&tables, &schema],
        )
        .await?;
    for row in missing {
        let definition: String = row.try_get(0)?;
        client
            .batch_execute(&definition.replacen(" ON public.", &format!(" ON {schema}."), 1))
            .await?;
    }
    Ok(())
}

/// Row count and an order-independent content hash of `schema.table`
/// (`hash_record_extended` hashes each column by its type, with no text
/// conversion).
pub(super) async fn fingerprint(
    live: &Projector,
    schema: &str,
    table: &str,
) -> Result<(i64, String), RebuildError> {
    let client = live.pool().get().await?;
    // Generated columns (search vectors) follow from the others, and some
    // types of theirs (tsvector) have no hash function: only the columns
    // the projection writes are hashed.
    let columns: Vec<String> = client
        .query(
            "SELECT quote_ident(column_name::text) FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER'
              ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let record = columns
        .iter()
        .map(|column| format!("t.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(hash_record_extended(ROW({record}), 0)::numeric), 0)::text
                   FROM {schema}.{table} t"
            ),
            &[],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Tables whose rows differ between the live schema and the shadow (the
/// live tables cannot change meanwhile: the caller holds their lease).
pub(super) async fn compare(
    client: &impl GenericClient,
    live: &Projector,
) -> Result<Vec<Difference>, RebuildError> {
    let schema = shadow_schema(live.name());
    let mut differences = Vec::new();
    for table in live.projection().tables() {
        let (live_print, rebuilt_print) = tokio::join!(
            fingerprint(live, "public", table),
            fingerprint(live, &schema, table)
        );
        let ((live_rows, live_hash), (rebuilt_rows, rebuilt_hash)) = (live_print?, rebuilt_print?);
        if live_rows == rebuilt_rows && live_hash == rebuilt_hash {
            continue;
        }
        let sample = |from: &str, minus: &str| {
            format!(
                "SELECT d::text FROM (SELECT * FROM {from}.{table} EXCEPT ALL SELECT * FROM {minus}.{table}) d
                  LIMIT {SAMPLES}"
            )
        };
        let rows = |rows: Vec<tokio_postgres::Row>| {
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
        };
        differences.push(Difference {
            table: (*table).to_owned(),
            live_rows,
            rebuilt_rows,
            only_live: rows(client.query(&sample("public", &schema), &[]).await?)?,
            only_rebuilt: rows(client.query(&sample(&schema, "public"), &[]).await?)?,
        });
    }
    Ok(differences)
}

/// Puts the shadow tables in place of the live ones, inside `tx`.
pub(super) async fn swap(
    tx: &deadpool_postgres::Transaction<'_>,
    live: &Projector,
) -> Result<(), RebuildError> {
    let name = live.name();
    let schema = shadow_schema(name);
    let retired = format!("zekka_retired_{name}");
    let mut ddl = format!("DROP SCHEMA IF EXISTS {retired} CASCADE; CREATE SCHEMA {retired};");
    for table in live.projection().tables() {
        ddl.push_str(&format!(
            "ALTER TABLE public.{table} SET SCHEMA {retired}; ALTER TABLE {schema}.{table} SET SCHEMA public;"
        ));
    }
    ddl.push_str(&format!(
        "DROP SCHEMA {retired} CASCADE; DROP SCHEMA {schema} CASCADE;"
    ));
    tx.batch_execute(&ddl).await?;
    tx.execute(
        "UPDATE projection_checkpoints l
            SET events_applied = s.events_applied, updated_at = now(),
                status = 'running', error = NULL, error_position = NULL, error_event_type = NULL,
                failing_since = NULL
           FROM projection_checkpoints s
          WHERE l.name = $1 AND s.name = $2",
        &[&name, &shadow_checkpoint(name)],
    )
    .await?;
    tx.execute(
        "DELETE FROM projection_checkpoints WHERE name = $1",
        &[&shadow_checkpoint(name)],
    )
    .await?;
    Ok(())
}
