//! Setting up a scenario: an account, a session, a project.

use anyhow::Result;
use serde_json::{Value, json};
use zekka_client::Connection;
use zekka_client::Method;

/// Registers a fresh account and signs in; returns its access token.
///
/// # Errors
/// When the server refuses.
pub async fn signed_in_user(connection: &mut Connection) -> Result<String> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "benchmark passphrase";
    let credentials = json!({"email": email, "password": password, "display_name": "Bench"});
    connection
        .send(Method::POST, "/api/v1/auth/register", None, Some(&credentials))
        .await?
        .json(201, "register")?;
    Ok(signed_in_as(connection, &email, password).await?.0)
}

/// Signs in as `email`; returns its access token and user id.
///
/// # Errors
/// When the server refuses.
pub async fn signed_in_as(
    connection: &mut Connection,
    email: &str,
    password: &str,
) -> Result<(String, String)> {
    let session = connection
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await?
        .json(200, "login")?;
    let field = |name: &str| session[name].as_str().unwrap_or_default().to_owned();
    Ok((field("access_token"), field("user_id")))
}

/// Creates something with `POST path body` and returns its `id`.
///
/// # Errors
/// When the server refuses.
pub async fn create(connection: &mut Connection, token: &str, path: &str, body: &Value) -> Result<String> {
    let created = connection
        .send(Method::POST, path, Some(token), Some(body))
        .await?
        .json(201, path)?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

/// A project of its own with one conversation and one agent (on `model`),
/// the unit of work of the write scenarios.
pub struct Lane {
    /// The project.
    pub project: String,
    /// Its conversation.
    pub conversation: String,
    /// Its agent, whose usage is charged to the project.
    pub agent: String,
}

/// Creates `count` lanes, the `n`th named after `n`.
///
/// # Errors
/// When the server refuses.
pub async fn lanes(connection: &mut Connection, token: &str, count: usize, model: &str) -> Result<Vec<Lane>> {
    let mut lanes = Vec::with_capacity(count);
    for n in 0..count {
        let project = create(
            connection,
            token,
            "/api/v1/projects",
            &json!({"name": format!("Bench {n}")}),
        )
        .await?;
        let conversation = create(
            connection,
            token,
            "/api/v1/conversations",
            &json!({"project_id": project, "title": "Load"}),
        )
        .await?;
        let agent = create(
            connection,
            token,
            "/api/v1/agents",
            &json!({"project_id": project, "name": format!("agent {n}"), "kind": "developer", "model": model}),
        )
        .await?;
        lanes.push(Lane {
            project,
            conversation,
            agent,
        });
    }
    Ok(lanes)
}
