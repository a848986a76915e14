//! A real streaming replica of the test server, for the read-replica tests
//! (issue 25): `pg_basebackup -R` into a temporary directory and a second
//! `postgres` on a port of its own, started once per test process with
//! Debian's PostgreSQL binaries and stopped (its directory removed) by a
//! watchdog when the process ends. Every test database created on the
//! primary appears on it by replication.
//!
//! Replication needs a `replication` line in the primary's `pg_hba.conf`;
//! when it has none, one trusting loopback connections is added and the
//! configuration reloaded (the test server is a local one, trusted already).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, RwLock};
use tokio_postgres::NoTls;

use super::database::{TestDatabase, url_for};

/// The replica of this test process.
pub struct Replica {
    /// Its port on 127.0.0.1.
    pub port: u16,
}

static REPLICA: OnceCell<Replica> = OnceCell::const_new();

/// Held for reading by tests that read through the replica, and for
/// writing by the one that pauses its replay (which would hold up the
/// others' reads).
pub static REPLAY: RwLock<()> = RwLock::const_new(());

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let config = tokio_postgres::Config::from_str(url)?;
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `program` with `args` as the `postgres` user when this process is
/// root (the server refuses to run as root), else as this user.
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run(mut command: Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Makes sure the primary lets loopback connections replicate.
async fn allow_replication(admin: &tokio_postgres::Client) {
    let allowed = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_hba_file_rules
                             WHERE 'replication' = ANY(database))",
            &[],
        )
        .await
        .expect("read pg_hba rules")
        .get::<_, bool>(0);
    if allowed {
        return;
    }
    let file: String = admin
        .query_one("SHOW hba_file", &[])
        .await
        .expect("hba_file")
        .get(0);
    let current = std::fs::read_to_string(&file).expect("the primary's pg_hba.conf is readable");
    std::fs::write(
        &file,
        format!("host replication all 127.0.0.1/32 trust\n{current}"),
    )
    .expect("the primary's pg_hba.conf is writable (the replica tests add a replication line)");
    admin
        .execute("SELECT pg_reload_conf()", &[])
        .await
        .expect("reload the configuration");
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The settings a hot standby must have at least as high as its primary.
async fn primary_settings(admin: &tokio_postgres::Client) -> String {
    let mut settings = String::new();
    for name in [
        "max_connections",
        "max_worker_processes",
        "max_wal_senders",
        "max_prepared_transactions",
        "max_locks_per_transaction",
    ] {
        let value: String = admin
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .expect("a setting")
            .get(0);
        settings.push_str(&format!("{name} = {value}\n"));
    }
    settings
}

async fn start() -> Replica {
    let admin = connect(&url_for("postgres"))
        .await
        .expect("connect to the primary");
    allow_replication(&admin).await;
    let major: String = admin
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000 || ''",
            &[],
        )
        .await
        .expect("server version")
        .get(0);
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("zekka-replica-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the replica's directory");
    let primary_port = tokio_postgres::Config::from_str(&url_for("postgres"))
        .ok()
        .and_then(|c| c.get_ports().first().copied())
        .unwrap_or(5432)
        .to_string();
    let settings = primary_settings(&admin).await;
    let data = dir.join("data");
    let data_text = data.display().to_string();
    let dir_text = dir.display().to_string();
    let chown = |path: &Path| {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status();
    };
    chown(&dir);
    tokio::task::spawn_blocking({
        let bin = bin.clone();
        move || {
            run(
                as_postgres(
                    &bin.join("pg_basebackup"),
                    &[
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &primary_port,
                        "-U",
                        "postgres",
                        "-D",
                        &data_text,
                        "-R",
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                    ],
                ),
                "pg_basebackup",
            );
        }
    })
    .await
    .expect("pg_basebackup ran");
    let conf = format!(
        "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir_text}'\n\
         hot_standby = on\nhot_standby_feedback = on\nshared_buffers = 64MB\nfsync = off\n{settings}"
    );
    std::fs::write(data.join("postgresql.conf"), conf).expect("write postgresql.conf");
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
    .expect("write pg_hba.conf");
    std::fs::write(data.join("pg_ident.conf"), "").expect("write pg_ident.conf");
    chown(&dir);
    let log = dir.join("replica.log").display().to_string();
    let data_text = data.display().to_string();
    run(
        as_postgres(
            &bin.join("pg_ctl"),
            &["-D", &data_text, "-l", &log, "-w", "-t", "60", "start"],
        ),
        "start the replica",
    );
    // Stop it and remove its files when this test process is gone.
    let pg_ctl = bin.join("pg_ctl");
    let stop = as_postgres(&pg_ctl, &["-D", &data_text, "-m", "immediate", "stop"]);
    let stop_line = format!(
        "{} {}",
        stop.get_program().to_string_lossy(),
        stop.get_args()
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop_line} >/dev/null 2>&1; rm -rf '{dir_text}'",
        pid = std::process::id()
    );
    // `setsid -f` forks the watchdog off and returns at once.
    let started = Command::new("setsid")
        .args(["-f", "sh", "-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("start the replica's watchdog");
    assert!(started.success(), "the replica's watchdog did not start");
    Replica { port }
}

/// The replica of this test process, started on first use.
pub async fn replica() -> &'static Replica {
    REPLICA.get_or_init(start).await
}

impl Replica {
    /// The URL of database `name` on the replica.
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Waits until the replica has replayed everything the primary has
    /// written so far (`db` has appeared on it, with its migrations).
    pub async fn caught_up_with(&self, db: &TestDatabase) {
        let primary = connect(&db.url).await.expect("connect to the primary");
        let written: String = primary
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .expect("the primary's position")
            .get(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(replica) = connect(&self.url_for(&db.name)).await
                && replica
                    .query_one("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&written])
                    .await
                    .is_ok_and(|row| row.get::<_, bool>(0))
            {
                return;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Pauses (or resumes) the replica's replay: what it shows stands
    /// still, as a replica far behind would.
    pub async fn pause_replay(&self, paused: bool) {
        let client = connect(&self.url_for("postgres"))
            .await
            .expect("connect to the replica");
        let call = if paused {
            "SELECT pg_wal_replay_pause()"
        } else {
            "SELECT pg_wal_replay_resume()"
        };
        client.execute(call, &[]).await.expect("pause or resume replay");
    }
}
