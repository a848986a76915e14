//! A database per test, cloned from a migrated template and dropped after.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use zekka_event_store::database;

/// The server tests use: `TEST_DATABASE_URL` (a URL naming any database on
/// it), else the local one.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of database `name` on the test server.
pub fn url_for(name: &str) -> String {
    let base = server_url();
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
    format!("{prefix}/{name}")
}

async fn admin() -> tokio_postgres::Client {
    let config = tokio_postgres::Config::from_str(&url_for("postgres")).expect("valid URL");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .expect("connect to the postgres database");
    tokio::spawn(connection);
    client
}

/// The template's name changes with the migrations, so a stale template is
/// never used.
fn template_name() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/event-store/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        std::fs::read(&file).expect("read migration").hash(&mut hasher);
    }
    format!("zekka_template_{:016x}", hasher.finish())
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Creates (once, under an advisory lock so parallel test processes agree)
/// a database with every migration applied.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let client = admin().await;
            client
                .execute("SELECT pg_advisory_lock(7402011)", &[])
                .await
                .expect("template lock");
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .expect("look up template")
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .await
                    .expect("drop a half-built template");
                client
                    .batch_execute(&format!("CREATE DATABASE {building}"))
                    .await
                    .expect("create template");
                let pool = sqlx::PgPool::connect(&url_for(&building))
                    .await
                    .expect("connect template");
                database::migrate(&pool).await.expect("migrate template");
                pool.close().await;
                client
                    .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .await
                    .expect("publish template");
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                client
                    .batch_execute(&format!(
                        "COMMENT ON DATABASE {name} IS 'zekka test template {now}'"
                    ))
                    .await
                    .expect("date the template");
                // Templates of older migrations are of no further use once no
                // test run can still be cloning them (a day later).
                let stale = client
                    .query(
                        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database
                          WHERE datname LIKE 'zekka\\_template\\_%' AND datname <> $1",
                        &[&name],
                    )
                    .await
                    .expect("list templates");
                for row in stale {
                    let old: String = row.get(0);
                    let created: u64 = row
                        .get::<_, Option<String>>(1)
                        .and_then(|c| c.rsplit(' ').next().and_then(|s| s.parse().ok()))
                        .unwrap_or(0);
                    if now.saturating_sub(created) > 24 * 3600 {
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {old}"))
                            .await;
                    }
                }
            }
            client
                .execute("SELECT pg_advisory_unlock(7402011)", &[])
                .await
                .expect("template unlock");
            name
        })
        .await
        .clone()
}

/// A database of one test's own, dropped when this value is.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A fresh database with every migration applied.
    pub async fn migrated() -> Self {
        let template = template().await;
        let name = format!("zekka_test_{}", uuid::Uuid::new_v4().simple());
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .expect("clone the template");
        Self {
            url: url_for(&name),
            name,
        }
    }

    /// A name for a database that does not exist yet (dropped afterwards if
    /// the test created it).
    pub fn not_created() -> Self {
        let name = format!("zekka_test_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: url_for(&name),
            name,
        }
    }

    /// A tokio-postgres connection to it.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let config = tokio_postgres::Config::from_str(&self.url).expect("valid URL");
        let (client, connection) = config.connect(NoTls).await.expect("connect to the test database");
        tokio::spawn(connection);
        client
    }

    /// An sqlx pool on it (the write side's driver).
    /// Every table whose name matches one of `patterns` (SQL `LIKE`), as
    /// text: one `== table` heading each, rows in a stable order.
    pub async fn dump(&self, patterns: &[&str]) -> String {
        let client = self.connect().await;
        let tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables
                  WHERE table_schema = 'public' AND table_name LIKE ANY($1) ORDER BY table_name",
                &[&patterns],
            )
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = String::new();
        for table in tables {
            let row = client
                .query_one(
                    &format!(
                        "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
                    ),
                    &[],
                )
                .await
                .expect("dump");
            out.push_str(&format!("== {table}\n{}\n", row.get::<_, String>(0)));
        }
        out
    }

    pub async fn sqlx_pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url).await.expect("connect sqlx pool")
    }
}

/// The directory a test's sources are kept in: named after its database
/// (the last segment of `database_url`), removed when the database is.
pub fn sources_dir(database_url: &str) -> std::path::PathBuf {
    let name = database_url.rsplit('/').next().unwrap_or("zekka");
    std::env::temp_dir().join("zekka-test-sources").join(name)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(sources_dir(&self.url));
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside a test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move { admin().await.batch_execute(&statement).await })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: failed to drop test database {}", self.name);
        }
    }
}
