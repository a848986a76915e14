//! Property test: over thousands of random usage records across models,
//! agents, tasks and days, every analytics answer equals the exact sum of
//! the individual costs, computed here in integers from the price book.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use zekka_domain::project::ProjectEvent;

use crate::support::app::{TestApp, User};
use crate::support::random::{Rng, seed};
use crate::support::spawn_app_with;

/// The default price book in cents per million tokens (input, output).
const PRICES: [(&str, i128, i128); 4] = [
    ("gemini-pro", 50, 150),
    ("claude-sonnet", 300, 1500),
    ("gpt-4", 3000, 6000),
    ("llama3.1:8b", 0, 0),
];

/// Records made through the API (priced by the server).
const LIVE_RECORDS: usize = 1_200;
/// Records of a history spread over past days.
const HISTORY_RECORDS: usize = 3_000;
/// How many past days the history covers.
const HISTORY_DAYS: u64 = 60;

/// Exact totals of some records: cost in units of 10⁻⁸ USD (cents per
/// million × tokens), tokens, record count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    cost: i128,
    input: i64,
    output: i64,
    records: i64,
}

impl Totals {
    fn add(&mut self, record: &Record) {
        self.cost += record.cost();
        self.input += record.input;
        self.output += record.output;
        self.records += 1;
    }

    /// The cost as the API shows it: exact, then rounded to six decimals.
    fn wire_cost(&self) -> String {
        format!("{:.6}", Decimal::from_i128_with_scale(self.cost, 8).round_dp(6))
    }
}

/// One random usage record.
#[derive(Debug, Clone)]
struct Record {
    model: usize,
    agent: usize,
    task: Option<usize>,
    input: i64,
    output: i64,
}

impl Record {
    fn random(rng: &mut Rng, agents: usize, tasks: usize) -> Self {
        // Mostly ordinary sizes, now and then a very large or an empty one.
        let size = |rng: &mut Rng, ordinary: u64| match rng.below(20) {
            0 => 0,
            1 => 5_000_000 + rng.below(5_000_000),
            _ => rng.below(ordinary),
        };
        let input = i64::try_from(size(rng, 200_000)).unwrap_or(0);
        let output = i64::try_from(size(rng, 50_000)).unwrap_or(0);
        let task = (rng.below(3) > 0).then(|| rng.below(tasks as u64) as usize);
        Self {
            model: rng.below(PRICES.len() as u64) as usize,
            agent: rng.below(agents as u64) as usize,
            task,
            input,
            output,
        }
    }

    fn model(&self) -> &'static str {
        PRICES[self.model].0
    }

    fn cost(&self) -> i128 {
        let (_, input_price, output_price) = PRICES[self.model];
        i128::from(self.input) * input_price + i128::from(self.output) * output_price
    }
}

async fn create(app: &TestApp, user: &User, path: &str, body: Value, id_field: &str) -> String {
    let created = app.request("POST", path, Some(&user.token), Some(&body)).await;
    assert_eq!(created.status, 201, "{path}: {}", created.text());
    created.json()[id_field].as_str().expect("id").to_owned()
}

/// An agent with `tasks` tasks on `project`: (agent, tasks).
async fn agent_with_tasks(app: &TestApp, user: &User, project: &str, tasks: usize) -> (String, Vec<String>) {
    let agent = create(
        app,
        user,
        "/api/v1/agents",
        json!({"project_id": project, "name": "Worker", "kind": "developer", "model": "gpt-4"}),
        "id",
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..tasks {
        ids.push(
            create(
                app,
                user,
                &format!("/api/v1/agents/{agent}/tasks"),
                json!({"title": format!("task {n}")}),
                "task_id",
            )
            .await,
        );
    }
    (agent, ids)
}

fn items(answer: &Value) -> &Vec<Value> {
    answer["items"].as_array().expect("items")
}

/// A cost breakdown's totals: cost in units of 10⁻⁸ USD (as shown, so
/// rounded per model) and records.
fn breakdown_totals(breakdown: &Value) -> (i128, i64) {
    items(breakdown).iter().fold((0, 0), |(cost, records), i| {
        let shown: Decimal = i["cost_usd"].as_str().expect("cost").parse().expect("decimal");
        (
            cost + (shown * Decimal::from(100_000_000)).mantissa() / 10_i128.pow(shown.scale()),
            records + i["records"].as_i64().expect("records"),
        )
    })
}

#[tokio::test]
async fn analytics_equal_the_exact_sums_of_thousands_of_random_records_across_models_and_days() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "1000000/60")]).await;
    let owner = app.user("accountant").await;

    // Live usage through the API, from four concurrent writers, on three
    // agents with two tasks each.
    let (live, _) = app.project(&owner, "Live").await;
    let mut agents = Vec::new();
    for _ in 0..3 {
        agents.push(agent_with_tasks(&app, &owner, &live, 2).await);
    }
    let tasks: Vec<(usize, String)> = agents
        .iter()
        .enumerate()
        .flat_map(|(a, (_, tasks))| tasks.iter().map(move |t| (a, t.clone())))
        .collect();
    let records: Vec<Record> = (0..LIVE_RECORDS)
        .map(|_| {
            let mut record = Record::random(&mut rng, agents.len(), tasks.len());
            // A task belongs to one agent: usage on it is that agent's.
            if let Some(task) = record.task {
                record.agent = tasks[task].0;
            }
            record
        })
        .collect();
    let writers = records.chunks(LIVE_RECORDS / 4).map(|chunk| {
        let (app, owner, agents, tasks) = (&app, &owner, &agents, &tasks);
        async move {
            let mut last = String::new();
            for record in chunk {
                let mut body = json!({"model": record.model(), "input_tokens": record.input,
                                      "output_tokens": record.output});
                if let Some(task) = record.task {
                    body["task_id"] = json!(tasks[task].1);
                }
                let path = format!("/api/v1/agents/{}/usage", agents[record.agent].0);
                let recorded = app.request("POST", &path, Some(&owner.token), Some(&body)).await;
                assert_eq!(recorded.status, 201, "seed {seed}: {}", recorded.text());
                // Each charge is the exact cost of its own record.
                let single = Totals {
                    cost: record.cost(),
                    ..Totals::default()
                };
                assert_eq!(
                    recorded.json()["cost_usd"],
                    single.wire_cost(),
                    "seed {seed}: {record:?}"
                );
                last = recorded.json()["consistency_token"]
                    .as_str()
                    .expect("token")
                    .to_owned();
            }
            last
        }
    });
    let tokens = join_all(writers).await;

    // A history over the past days, as an import would leave it: usage events
    // on a second project's stream with the times they happened.
    let (history, _) = app.project(&owner, "History").await;
    let (history_agent, _) = agent_with_tasks(&app, &owner, &history, 0).await;
    let today = Utc::now().date_naive();
    let mut past: Vec<(DateTime<Utc>, Record)> = (0..HISTORY_RECORDS)
        .map(|_| {
            let day = today - Duration::days(1 + rng.below(HISTORY_DAYS) as i64);
            let at = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
                + Duration::microseconds(rng.below(86_400_000_000) as i64);
            (at, Record::random(&mut rng, 1, 1))
        })
        .collect();
    past.sort_by_key(|(at, _)| *at);
    let history_token = append_history(&app, &history, &history_agent, &past).await;

    // Expected totals, computed here.
    let mut live_by_model: BTreeMap<&str, Totals> = BTreeMap::new();
    let mut live_by_agent = vec![Totals::default(); agents.len()];
    let mut live_by_task = vec![Totals::default(); tasks.len()];
    let mut live_total = Totals::default();
    for record in &records {
        live_by_model.entry(record.model()).or_default().add(record);
        live_by_agent[record.agent].add(record);
        if let Some(task) = record.task {
            live_by_task[task].add(record);
        }
        live_total.add(record);
    }
    let mut history_by_day: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    let mut history_by_day_and_model: BTreeMap<(NaiveDate, &str), Totals> = BTreeMap::new();
    let mut history_total = Totals::default();
    for (at, record) in &past {
        history_by_day.entry(at.date_naive()).or_default().add(record);
        history_by_day_and_model
            .entry((at.date_naive(), record.model()))
            .or_default()
            .add(record);
        history_total.add(record);
    }

    // Wait for every write, then compare every answer.
    for token in tokens.iter().chain([&history_token]) {
        let waited = app
            .get_consistent("/api/v1/analytics/metrics", &owner.token, token)
            .await;
        assert_eq!(waited.status, 200, "{}", waited.text());
    }
    let get = |path: String| {
        let app = &app;
        let owner = &owner;
        async move {
            let answer = app.request("GET", &path, Some(&owner.token), None).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.text());
            answer.json()
        }
    };

    let mut everything = live_total;
    everything.cost += history_total.cost;
    everything.input += history_total.input;
    everything.output += history_total.output;
    let metrics = get("/api/v1/analytics/metrics".into()).await;
    assert_eq!(metrics["cost_usd"], everything.wire_cost(), "seed {seed}");
    assert_eq!(metrics["tokens_input"], everything.input, "seed {seed}");
    assert_eq!(metrics["tokens_output"], everything.output, "seed {seed}");

    let breakdown = get(format!("/api/v1/analytics/costs/breakdown?project_id={live}")).await;
    let shown: BTreeMap<String, (String, i64, i64, i64)> = items(&breakdown)
        .iter()
        .map(|i| {
            (
                i["model"].as_str().expect("model").to_owned(),
                (
                    i["cost_usd"].as_str().expect("cost").to_owned(),
                    i["tokens_input"].as_i64().expect("input"),
                    i["tokens_output"].as_i64().expect("output"),
                    i["records"].as_i64().expect("records"),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (String, i64, i64, i64)> = live_by_model
        .iter()
        .map(|(model, t)| ((*model).to_owned(), (t.wire_cost(), t.input, t.output, t.records)))
        .collect();
    assert_eq!(shown, expected, "seed {seed}");

    let per_agent = get(format!("/api/v1/analytics/agents?project_id={live}")).await;
    for (n, (agent, _)) in agents.iter().enumerate() {
        let row = items(&per_agent)
            .iter()
            .find(|i| i["agent_id"] == agent.as_str())
            .expect("agent row");
        assert_eq!(row["cost_usd"], live_by_agent[n].wire_cost(), "seed {seed}");
        assert_eq!(row["tokens_input"], live_by_agent[n].input, "seed {seed}");
    }
    let per_task = get(format!("/api/v1/analytics/tasks?project_id={live}")).await;
    for (n, (_, task)) in tasks.iter().enumerate() {
        let row = items(&per_task)
            .iter()
            .find(|i| i["task_id"] == task.as_str())
            .expect("task row");
        assert_eq!(row["cost_usd"], live_by_task[n].wire_cost(), "seed {seed}");
        assert_eq!(row["tokens_output"], live_by_task[n].output, "seed {seed}");
    }

    // Per day over the history, whole and for random inclusive ranges.
    let daily = get(format!("/api/v1/analytics/costs?project_id={history}")).await;
    let shown: BTreeMap<String, (String, i64, i64)> = items(&daily)
        .iter()
        .map(|i| {
            (
                i["day"].as_str().expect("day").to_owned(),
                (
                    i["cost_usd"].as_str().expect("cost").to_owned(),
                    i["tokens_input"].as_i64().expect("input"),
                    i["tokens_output"].as_i64().expect("output"),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (String, i64, i64)> = history_by_day
        .iter()
        .map(|(day, t)| (day.to_string(), (t.wire_cost(), t.input, t.output)))
        .collect();
    assert_eq!(shown, expected, "seed {seed}");

    let tokens = get(format!("/api/v1/analytics/tokens?project_id={history}")).await;
    let shown: BTreeMap<(String, String), (i64, i64)> = items(&tokens)
        .iter()
        .map(|i| {
            (
                (
                    i["day"].as_str().expect("day").to_owned(),
                    i["model"].as_str().expect("model").to_owned(),
                ),
                (
                    i["tokens_input"].as_i64().expect("input"),
                    i["tokens_output"].as_i64().expect("output"),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<(String, String), (i64, i64)> = history_by_day_and_model
        .iter()
        .map(|((day, model), t)| ((day.to_string(), (*model).to_owned()), (t.input, t.output)))
        .collect();
    assert_eq!(shown, expected, "seed {seed}");

    for _ in 0..10 {
        let a = today - Duration::days(1 + rng.below(HISTORY_DAYS) as i64);
        let b = today - Duration::days(1 + rng.below(HISTORY_DAYS) as i64);
        let (from, to) = (a.min(b), a.max(b));
        let mut expected = Totals::default();
        for (_, t) in history_by_day.range(from..=to) {
            expected.cost += t.cost;
            expected.records += t.records;
        }
        let breakdown = get(format!(
            "/api/v1/analytics/costs/breakdown?project_id={history}&from={from}&to={to}"
        ))
        .await;
        let (cost, records) = breakdown_totals(&breakdown);
        assert_eq!(records, expected.records, "seed {seed}: {from}..={to}");
        // Each model's sum is rounded to micro-dollars on the wire, so the
        // sum of the rows is within half a micro-dollar per model.
        let slack = 50 * PRICES.len() as i128;
        assert!(
            (cost - expected.cost).abs() <= slack,
            "seed {seed}: {from}..={to}: {cost} vs {}",
            expected.cost
        );
    }

    // Ranges between two instants: partial days at either end (whole days
    // come from the rollup, the ends from the records), or within one day.
    let span = past.last().map(|(at, _)| *at).unwrap_or_else(Utc::now) - past[0].0;
    for round in 0..12 {
        let instant =
            |rng: &mut Rng| past[0].0 + Duration::seconds(rng.below(span.num_seconds().max(1) as u64) as i64);
        let a = instant(&mut rng);
        // Every third range stays within a few hours.
        let b = if round % 3 == 0 {
            a + Duration::seconds(rng.below(6 * 3600) as i64)
        } else {
            instant(&mut rng)
        };
        let (from, to) = (a.min(b), a.max(b));
        let inside: Vec<&Record> = past
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, r)| r)
            .collect();
        let breakdown = get(format!(
            "/api/v1/analytics/costs/breakdown?project_id={history}&from={}&to={}",
            urlencode(&from.to_rfc3339()),
            urlencode(&to.to_rfc3339())
        ))
        .await;
        let (cost, records) = breakdown_totals(&breakdown);
        assert_eq!(records, inside.len() as i64, "seed {seed}: {from}..={to}");
        let expected: i128 = inside.iter().map(|r| r.cost()).sum();
        let slack = 50 * PRICES.len() as i128;
        assert!(
            (cost - expected).abs() <= slack,
            "seed {seed}: {from}..={to}: {cost} vs {expected}"
        );
    }

    // An RFC 3339 `to` includes the instant itself.
    let (last_at, last) = past.last().expect("history");
    let until_last = get(format!(
        "/api/v1/analytics/costs/breakdown?project_id={history}&from={}&to={}",
        urlencode(&last_at.to_rfc3339()),
        urlencode(&last_at.to_rfc3339())
    ))
    .await;
    let records: i64 = items(&until_last)
        .iter()
        .map(|i| i["records"].as_i64().expect("records"))
        .sum();
    let same_instant = past.iter().filter(|(at, _)| at == last_at).count() as i64;
    assert_eq!(records, same_instant, "seed {seed}");
    assert_eq!(items(&until_last)[0]["model"], last.model(), "seed {seed}");
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

/// Appends `past` to `project`'s stream as `TokenUsageRecorded` events with
/// their own times, in one transaction; returns a consistency token for it.
async fn append_history(
    app: &TestApp,
    project: &str,
    agent: &str,
    past: &[(DateTime<Utc>, Record)],
) -> String {
    let agent_id: uuid::Uuid = agent.parse().expect("agent id");
    let mut client = app.db.connect().await;
    let tx = client.transaction().await.expect("begin");
    let last: i64 = tx
        .query_one(
            "SELECT max(sequence) FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1",
            &[&project],
        )
        .await
        .expect("stream head")
        .get(0);
    let insert = tx
        .prepare(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                                 metadata, recorded_at, hash)
             VALUES ('Project', $1, $2, 'TokenUsageRecorded', '2.0', $3, '{}', $4, 'by hand')",
        )
        .await
        .expect("prepare");
    let mut spent = Decimal::ZERO;
    for (n, (at, record)) in past.iter().enumerate() {
        let (model, input_price, output_price) = PRICES[record.model];
        let cost = Decimal::from_i128_with_scale(record.cost(), 8);
        spent += cost;
        let event = ProjectEvent::TokenUsageRecorded {
            usage_id: uuid::Uuid::now_v7(),
            agent_id,
            model: model.to_owned(),
            input_tokens: u64::try_from(record.input).expect("not negative"),
            output_tokens: u64::try_from(record.output).expect("not negative"),
            conversation_id: None,
            task_id: None,
            input_usd_per_million: Decimal::from_i128_with_scale(input_price, 2),
            output_usd_per_million: Decimal::from_i128_with_scale(output_price, 2),
            cost_usd: cost,
            input_cost_usd: Decimal::from_i128_with_scale(i128::from(record.input) * input_price, 8),
            output_cost_usd: Decimal::from_i128_with_scale(i128::from(record.output) * output_price, 8),
            spent_usd: spent,
        };
        let payload = serde_json::to_value(&event).expect("payload");
        let sequence = last + 1 + n as i64;
        tx.execute(&insert, &[&project, &sequence, &payload, at])
            .await
            .expect("append");
    }
    let token: String = tx
        .query_one(
            "SELECT 'v1.' || transaction_id::text || '.' || global_position FROM events
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
            &[&project],
        )
        .await
        .expect("token")
        .get(0);
    tx.commit().await.expect("commit");
    token
}
