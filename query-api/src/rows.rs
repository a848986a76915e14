//! Running a read-model query and turning its rows into answers, with the
//! statement prepared once per connection and every failure mapped onto a
//! problem in one place.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use zekka_event_store::database::CachedQueries;
use zekka_platform::Problem;

/// Runs `sql` with `params` and maps every row with `map`.
///
/// # Errors
/// 503 when the database is unreachable, 500 for any other failure.
pub async fn query_map<T>(
    client: &deadpool_postgres::Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, Problem> {
    let rows = client.query_cached(sql, params).await.map_err(Problem::from_db)?;
    rows.iter()
        .map(map)
        .collect::<Result<_, _>>()
        .map_err(Problem::from_db)
}
