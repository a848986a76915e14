//! The read side never stops on what the write side accepted (issue 20,
//! security review F1). A property test: arbitrary Unicode — controls,
//! 4-byte characters, right-to-left text, combining marks, long strings
//! within the limits — goes through every command that carries text. Each
//! answer is a 4xx, or every projection applies what was written and the
//! text reads back byte-identical (in the domain's normal form: names
//! trimmed, file paths normalised).
//!
//! `PROPTEST_CASES` sets how many strings are tried (default 24 here: each
//! case is a few dozen requests against the real services).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app_with;

/// Characters that have broken text handling somewhere: controls (C0, DEL,
/// C1), line breaks, bidi marks and overrides, zero-width characters,
/// combining marks, right-to-left letters, 4-byte emoji, the replacement
/// character, the last code points of the planes.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => (0_u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        1 => (0x7f_u32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('\u{7f}')),
        1 => prop::sample::select(vec![
            '\t', '\n', '\r', '\u{200b}', '\u{200d}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{feff}',
            '\u{fffd}', '\u{ffff}', '\u{10ffff}', '\u{301}', '\u{5d0}', '\u{627}', '\u{1f469}',
            '\u{1f3fd}', ' ', '"', '\\', '\'', '%', '_',
        ]),
        3 => proptest::char::range('a', 'z'),
    ]
}

/// Short and long texts of tricky characters (up to a little past the
/// limits, so some are refused for their length alone).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(tricky_char(), 0..40).prop_map(|c| c.into_iter().collect()),
        1 => (prop::collection::vec(tricky_char(), 1..8), 90_usize..210)
            .prop_map(|(c, n)| c.iter().cycle().take(n).collect()),
        1 => (prop::collection::vec(tricky_char(), 1..4), 9_000_usize..10_050)
            .prop_map(|(c, n)| c.iter().cycle().take(n).collect()),
    ]
}

/// What one accepted command must read back as, once projected.
struct Expectation {
    what: &'static str,
    path: String,
    pointer: String,
    expected: String,
}

/// One string through every text-carrying command.
struct Run<'a> {
    app: &'a TestApp,
    admin: &'a User,
    owner: &'a User,
    text: &'a str,
    tokens: Vec<String>,
    expectations: Vec<Expectation>,
}

/// What `what` must read as: `expected` at `pointer` of `GET path`.
fn read(what: &'static str, path: String, pointer: &str, expected: String) -> Expectation {
    Expectation {
        what,
        path,
        pointer: pointer.to_owned(),
        expected,
    }
}

fn line(text: &str) -> String {
    text.trim().to_owned()
}

impl Run<'_> {
    /// Sends a command; an accepted one is remembered with what it must
    /// read back as. Anything but a 2xx or 4xx fails the case.
    async fn command(
        &mut self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<Option<Value>, TestCaseError> {
        let answer = self.app.request(method, path, Some(token), Some(&body)).await;
        if (400..500).contains(&answer.status) {
            return Ok(None);
        }
        prop_assert!(
            (200..300).contains(&answer.status),
            "{method} {path} with {:?} answered {}: {}",
            self.text,
            answer.status,
            answer.text()
        );
        let value = if answer.body.is_empty() {
            Value::Null
        } else {
            answer.json()
        };
        if let Some(token) = answer.header("x-consistency-token") {
            self.tokens.push(token.to_owned());
        }
        Ok(Some(value))
    }

    fn expect(&mut self, what: &'static str, path: String, pointer: &str, expected: String) {
        self.expectations.push(read(what, path, pointer, expected));
    }

    /// Sends a command that needs nothing of its answer; when accepted, it
    /// must read back as `read` says.
    async fn command_read_back(
        &mut self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
        read: Expectation,
    ) -> Result<(), TestCaseError> {
        if self.command(token, method, path, body).await?.is_some() {
            self.expectations.push(read);
        }
        Ok(())
    }

    async fn all_commands(&mut self) -> Result<(), TestCaseError> {
        let (owner, admin, text) = (
            self.owner.token.clone(),
            self.admin.token.clone(),
            self.text.to_owned(),
        );
        let setup = |v: Option<Value>, field: &str| -> Result<String, TestCaseError> {
            v.and_then(|v| v[field].as_str().map(str::to_owned))
                .ok_or_else(|| TestCaseError::fail(format!("setup failed: no {field}")))
        };

        // Registration: the display name.
        let email = format!("p-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({"email": email, "password": "correct horse battery", "display_name": text});
        let answer = self
            .app
            .request("POST", "/api/v1/auth/register", None, Some(&body))
            .await;
        prop_assert!(
            answer.status == 201 || (400..500).contains(&answer.status),
            "register: {}",
            answer.text()
        );
        if answer.status == 201 {
            let user = answer.json()["user_id"].as_str().unwrap_or_default().to_owned();
            self.tokens.push(
                answer
                    .header("x-consistency-token")
                    .unwrap_or_default()
                    .to_owned(),
            );
            // Sealed in the event store, opened for an admin's audit.
            self.expect(
                "display name",
                format!("/api/v1/audit/streams/User/{user}"),
                "/items/0/payload/UserRegistered/display_name",
                line(&text),
            );
        }

        // A project: its name, then its description.
        let project = self
            .command(
                &owner,
                "POST",
                "/api/v1/projects",
                json!({"name": text, "description": text}),
            )
            .await?;
        if let Some(project) = &project {
            let id = project["id"].as_str().unwrap_or_default().to_owned();
            self.expect(
                "project name",
                format!("/api/v1/projects/{id}"),
                "/name",
                line(&text),
            );
            self.expect(
                "project description",
                format!("/api/v1/projects/{id}"),
                "/description",
                text.clone(),
            );
        }
        let project = setup(
            self.command(&owner, "POST", "/api/v1/projects", json!({"name": "Fixture"}))
                .await?,
            "id",
        )?;
        self.command_read_back(
            &owner,
            "PUT",
            &format!("/api/v1/projects/{project}"),
            json!({"description": text}),
            read(
                "edited description",
                format!("/api/v1/projects/{project}"),
                "/description",
                text.clone(),
            ),
        )
        .await?;
        if let Some(key) = self
            .command(
                &owner,
                "POST",
                &format!("/api/v1/projects/{project}/api-keys"),
                json!({"name": text, "scopes": ["read"]}),
            )
            .await?
        {
            let _ = key;
            self.expect(
                "key name",
                format!("/api/v1/projects/{project}/api-keys"),
                "/items/0/name",
                line(&text),
            );
        }

        // A conversation: its title, a message, an edit.
        if let Some(conversation) = self
            .command(
                &owner,
                "POST",
                "/api/v1/conversations",
                json!({"project_id": project, "title": text}),
            )
            .await?
        {
            let id = conversation["id"].as_str().unwrap_or_default().to_owned();
            self.expect(
                "title",
                format!("/api/v1/conversations/{id}"),
                "/title",
                line(&text),
            );
        }
        let conversation = setup(
            self.command(
                &owner,
                "POST",
                "/api/v1/conversations",
                json!({"project_id": project, "title": "Chat"}),
            )
            .await?,
            "id",
        )?;
        let messages = format!("/api/v1/conversations/{conversation}/messages");
        self.command_read_back(
            &owner,
            "POST",
            &messages,
            json!({"content": text}),
            read("message", messages.clone(), "/items/0/content", text.clone()),
        )
        .await?;
        let message = setup(
            self.command(&owner, "POST", &messages, json!({"content": "to be edited"}))
                .await?,
            "id",
        )?;
        let edited = self
            .command(
                &owner,
                "PUT",
                &format!("{messages}/{message}"),
                json!({"content": text}),
            )
            .await?
            .is_some();

        // An agent: name and kind, status detail, a task and its outcome.
        if let Some(agent) = self
            .command(
                &owner,
                "POST",
                "/api/v1/agents",
                json!({"project_id": project, "name": text, "kind": text, "model": "claude-sonnet"}),
            )
            .await?
        {
            let id = agent["id"].as_str().unwrap_or_default().to_owned();
            self.expect("agent name", format!("/api/v1/agents/{id}"), "/name", line(&text));
            self.expect("agent kind", format!("/api/v1/agents/{id}"), "/kind", line(&text));
        }
        let agent = setup(
            self.command(
                &owner,
                "POST",
                "/api/v1/agents",
                json!({"project_id": project, "name": "Fixture", "kind": "developer", "model": "claude-sonnet"}),
            )
            .await?,
            "id",
        )?;
        self.command_read_back(
            &owner,
            "POST",
            &format!("/api/v1/agents/{agent}/status"),
            json!({"status": "working", "detail": text}),
            read(
                "status detail",
                format!("/api/v1/agents/{agent}"),
                "/status_detail",
                text.clone(),
            ),
        )
        .await?;
        self.command(
            &owner,
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            json!({"title": text, "description": text}),
        )
        .await?;
        let task = setup(
            self.command(
                &owner,
                "POST",
                &format!("/api/v1/agents/{agent}/tasks"),
                json!({"title": "Fixture"}),
            )
            .await?,
            "task_id",
        )?;
        self.command(
            &owner,
            "POST",
            &format!("/api/v1/agents/{agent}/tasks/{task}/complete"),
            json!({"outcome": "succeeded", "detail": text}),
        )
        .await?;

        // A lock on a path made of the text, and conflicts.
        if let Some(lock) = self
            .command(
                &owner,
                "POST",
                &format!("/api/v1/projects/{project}/locks"),
                json!({"file_path": text, "agent_id": agent, "ttl_seconds": 60}),
            )
            .await?
        {
            let normal = zekka_domain::agent::FilePath::parse("file_path", &text)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| TestCaseError::fail(format!("a lock on a path the domain refuses: {e}")))?;
            prop_assert_eq!(lock["file_path"].as_str(), Some(normal.as_str()));
        }
        if let Some(conflict) = self
            .command(
                &owner,
                "POST",
                "/api/v1/conflicts",
                json!({"project_id": project, "kind": "code", "description": text, "agent_ids": [agent]}),
            )
            .await?
        {
            let id = conflict["id"].as_str().unwrap_or_default().to_owned();
            self.expect(
                "conflict description",
                format!("/api/v1/conflicts/{id}"),
                "/description",
                text.clone(),
            );
        }
        let report =
            json!({"project_id": project, "kind": "code", "description": "fixture", "agent_ids": [agent]});
        let resolved = setup(
            self.command(&owner, "POST", "/api/v1/conflicts", report.clone())
                .await?,
            "id",
        )?;
        self.command_read_back(
            &owner,
            "POST",
            &format!("/api/v1/conflicts/{resolved}/resolve"),
            json!({"strategy": "manual", "resolution": text}),
            read(
                "resolution",
                format!("/api/v1/conflicts/{resolved}"),
                "/resolution",
                text.clone(),
            ),
        )
        .await?;
        let escalated = setup(
            self.command(&owner, "POST", "/api/v1/conflicts", report).await?,
            "id",
        )?;
        self.command_read_back(
            &owner,
            "POST",
            &format!("/api/v1/conflicts/{escalated}/escalate"),
            json!({"reason": text}),
            read(
                "escalation",
                format!("/api/v1/conflicts/{escalated}"),
                "/escalation_reason",
                text.clone(),
            ),
        )
        .await?;

        // A preference, and an operator's skip reason (of a real event).
        self.command_read_back(
            &owner,
            "PUT",
            "/api/v1/preferences",
            json!({"default_model": text}),
            read(
                "default model",
                "/api/v1/preferences".to_owned(),
                "/default_model",
                line(&text),
            ),
        )
        .await?;
        let position: i64 = self
            .app
            .db
            .connect()
            .await
            .query_one("SELECT max(global_position) FROM events", &[])
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .get(0);
        self.command(
            &admin,
            "POST",
            "/api/v1/projections/pricing/skips",
            json!({"position": position, "reason": text}),
        )
        .await?;

        self.wait_for_projections().await?;
        if edited {
            let page = self.read(&messages).await?;
            let item = page["items"]
                .as_array()
                .and_then(|items| items.iter().find(|m| m["id"] == message.as_str()))
                .cloned()
                .unwrap_or_default();
            prop_assert_eq!(item["content"].as_str(), Some(text.as_str()), "edited message");
        }
        for expectation in std::mem::take(&mut self.expectations) {
            let value = self.read(&expectation.path).await?;
            prop_assert_eq!(
                value.pointer(&expectation.pointer).and_then(Value::as_str),
                Some(expectation.expected.as_str()),
                "{} read back from {} as {}",
                expectation.what,
                expectation.path,
                value
            );
        }
        Ok(())
    }

    /// Reads `path` as the owner (an admin for the audit), at the last write.
    async fn read(&self, path: &str) -> Result<Value, TestCaseError> {
        let token = if path.starts_with("/api/v1/audit") {
            &self.admin.token
        } else {
            &self.owner.token
        };
        let last = self.tokens.last().cloned().unwrap_or_default();
        let answer = self.app.get_consistent(path, token, &last).await;
        prop_assert_eq!(answer.status, 200, "GET {}: {}", path, answer.text());
        Ok(answer.json())
    }

    /// Waits until every projection has applied every accepted command,
    /// and fails the case when any projection fails.
    async fn wait_for_projections(&self) -> Result<(), TestCaseError> {
        let client = self.app.db.connect().await;
        for _ in 0..500 {
            let rows = client
                .query(
                    "SELECT name, status, error, global_position FROM projection_checkpoints
                      WHERE name NOT LIKE '%@rebuild'",
                    &[],
                )
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            for row in &rows {
                let status: String = row.get(1);
                let _ = row.get::<_, i64>(3);
                prop_assert_ne!(
                    status.as_str(),
                    "failed",
                    "projection {} stopped on {:?}: {:?}",
                    row.get::<_, String>(0),
                    self.text,
                    row.get::<_, Option<String>>(2)
                );
            }
            // The last event in commit order, and who has not reached it.
            let behind: i64 = client
                .query_one(
                    "SELECT count(*) FROM projection_checkpoints c,
                            (SELECT transaction_id, global_position FROM events
                              ORDER BY transaction_id DESC, global_position DESC LIMIT 1) h
                      WHERE c.name NOT LIKE '%@rebuild'
                        AND (c.transaction_id, c.global_position) < (h.transaction_id, h.global_position)",
                    &[],
                )
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .get(0);
            if behind == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(TestCaseError::fail("the projections never caught up"))
    }
}

#[test]
fn every_text_the_write_side_accepts_is_projected_and_reads_back_byte_identical() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (app, admin, owner) = runtime.block_on(async {
        let app = spawn_app_with(&[("ZEKKA_RATE_LIMIT_MULTIPLIER", "1000")]).await;
        let admin = app.admin("admin").await;
        let owner = app.user("owner").await;
        (app, admin, owner)
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&text(), |text| {
        runtime.block_on(async {
            Run {
                app: &app,
                admin: &admin,
                owner: &owner,
                text: &text,
                tokens: Vec::new(),
                expectations: Vec::new(),
            }
            .all_commands()
            .await
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    runtime.block_on(async move { drop(app) });
}
