//! Setting up a scenario: an account, a session, a project.

use anyhow::{Result, bail};
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{Answer, Connection};

/// The answer's JSON body, or an error naming `what` failed.
pub fn expect_json(answer: &Answer, status: u16, what: &str) -> Result<Value> {
    if answer.status != status {
        bail!(
            "{what} answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(serde_json::from_slice(&answer.body)?)
}

/// Registers a fresh account and signs in; returns its access token.
///
/// # Errors
/// When the server refuses.
pub async fn signed_in_user(connection: &mut Connection) -> Result<String> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "benchmark passphrase";
    let credentials = json!({"email": email, "password": password, "display_name": "Bench"});
    let registered = connection
        .send(Method::POST, "/api/v1/auth/register", None, Some(&credentials))
        .await?;
    expect_json(&registered, 201, "register")?;
    let login = connection
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await?;
    let session = expect_json(&login, 200, "login")?;
    Ok(session["access_token"].as_str().unwrap_or_default().to_owned())
}

/// Creates something with `POST path body` and returns its `id`.
///
/// # Errors
/// When the server refuses.
pub async fn create(connection: &mut Connection, token: &str, path: &str, body: &Value) -> Result<String> {
    let created = connection
        .send(Method::POST, path, Some(token), Some(body))
        .await?;
    let created = expect_json(&created, 201, path)?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}
