//! `audit`: the audit log of a large store (issue 26), run by
//! `bench/audit.sh` on the million-event fixture. A member's page of
//! `/audit/events` (their own small project among everyone's history), the
//! next page after a cursor, an auditor's page of the whole log, and a
//! verification of the whole store as a background job, followed to its end
//! with its progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use zekka_client::{Connection, Method, Server};

use crate::load::{self, Call, Plan};
use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Page reads per second, per series.
    pub rate: f64,
    /// Seconds per series.
    pub seconds: u64,
    /// An auditor's address and password (`zekka users grant-role`), for
    /// their page and the verification; both are skipped without one.
    pub auditor: Option<(String, String)>,
}

/// Events the member writes into their own project.
const MEMBER_EVENTS: usize = 120;

/// One page, the same each time.
struct Page {
    token: Arc<str>,
    path: String,
}

impl Plan for Page {
    fn call(&self, _worker: usize, _n: u64) -> Call {
        Call {
            method: Method::GET,
            path: self.path.clone(),
            token: Some(self.token.clone()),
            body: None,
            expect: 200,
        }
    }
}

async fn listing(connection: &mut Connection, token: &str, path: &str) -> Result<Value> {
    Ok(connection
        .send(Method::GET, path, Some(token), None)
        .await?
        .json(200, "audit events")?)
}

async fn sign_in(connection: &mut Connection, email: &str, password: &str) -> Result<String> {
    let session = connection
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await?
        .json(200, "login")?;
    session["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

/// Measures one page at the fixed rate and prints its row.
async fn series(options: &Options, name: &str, token: &Arc<str>, path: String) -> Result<Value> {
    let plan: Arc<dyn Plan> = Arc::new(Page {
        token: token.clone(),
        path,
    });
    let outcome = load::fixed_rate(
        &options.server,
        plan,
        2,
        options.rate,
        Duration::from_secs(options.seconds),
    )
    .await?;
    report::print_row(name, &outcome.latency, outcome.elapsed.as_secs_f64());
    Ok(outcome.summary())
}

/// Queues a verification and follows it to its end: its progress as seen
/// every half second, and how long it took.
async fn verification(connection: &mut Connection, token: &str) -> Result<Value> {
    let started = Instant::now();
    let job = connection
        .send(Method::POST, "/api/v1/audit/verifications", Some(token), None)
        .await?
        .json(202, "verification")?;
    let id = job["id"].as_str().context("no verification id")?.to_owned();
    let mut progress = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let view = connection
            .send(
                Method::GET,
                &format!("/api/v1/audit/verifications/{id}"),
                Some(token),
                None,
            )
            .await?
            .json(200, "verification")?;
        let checked = view["events_checked"].as_i64().unwrap_or(0);
        progress.push(json!([started.elapsed().as_secs_f64(), checked]));
        match view["status"].as_str() {
            Some("done") => {
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "verification   {checked} events in {seconds:.1} s, {} progress readings",
                    progress.len()
                );
                return Ok(json!({
                    "seconds": seconds,
                    "events_checked": checked,
                    "events_total": view["events_total"],
                    "intact": view["report"]["intact"],
                    "events_per_second": checked as f64 / seconds,
                    "progress": progress,
                }));
            }
            Some("failed") => bail!("the verification failed: {}", view["error"]),
            _ if started.elapsed() > Duration::from_secs(1800) => bail!("the verification took over 30 min"),
            _ => {}
        }
    }
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or setup is refused.
pub async fn run(options: Options) -> Result<()> {
    let mut connection = Connection::open(&options.server)?;
    let member: Arc<str> = signed_in_user(&mut connection).await?.into();
    let project = create(
        &mut connection,
        &member,
        "/api/v1/projects",
        &json!({"name": "Audited"}),
    )
    .await?;
    for n in 0..MEMBER_EVENTS {
        connection
            .send(
                Method::PUT,
                &format!("/api/v1/projects/{project}"),
                Some(&member),
                Some(&json!({"name": format!("Audited {n}")})),
            )
            .await?
            .json(200, "rename")?;
    }
    // Until the member's whole history is in the index.
    let waited = Instant::now();
    let first = loop {
        let page = listing(&mut connection, &member, "/api/v1/audit/events?limit=200").await?;
        let count = page["items"].as_array().map_or(0, Vec::len);
        if count > MEMBER_EVENTS {
            break page;
        }
        if waited.elapsed() > Duration::from_secs(600) {
            bail!("the member's events were not listed within 10 min ({count} so far)");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let member_id = first["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["aggregate_type"] == "User"))
        .and_then(|i| i["aggregate_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let cursor = first["items"][59]["position"].as_i64().context("no 60th event")?;

    report::print_header();
    let member_page = series(
        &options,
        "member page",
        &member,
        "/api/v1/audit/events?limit=50".into(),
    )
    .await?;
    let member_next = series(
        &options,
        "member next",
        &member,
        format!("/api/v1/audit/events?limit=50&after={cursor}"),
    )
    .await?;
    let mut result = json!({
        "scenario": "audit",
        "rate": options.rate,
        "seconds": options.seconds,
        "member_id": member_id,
        "member_events": MEMBER_EVENTS,
        "member_page": member_page,
        "member_next_page": member_next,
    });
    if let Some((email, password)) = &options.auditor {
        let auditor: Arc<str> = sign_in(&mut connection, email, password).await?.into();
        result["auditor_page"] = series(
            &options,
            "auditor page",
            &auditor,
            "/api/v1/audit/events?limit=50".into(),
        )
        .await?;
        result["verification"] = verification(&mut connection, &auditor).await?;
    }
    println!("{result}");
    Ok(())
}
