//! The API as the demo uses it: one keep-alive connection, polite retries.

use super::*;

/// A signed-in person.
pub(super) struct Session {
    pub(super) user_id: String,
    pub(super) token: String,
}

/// The API as the demo uses it: one keep-alive connection, reopened when the
/// server closes it, and polite retries when told to wait.
pub(super) struct Api {
    pub(super) server: Server,
    pub(super) connection: Option<Connection>,
    pub(super) progress: ProgressBar,
    pub(super) steps: u64,
    pub(super) last_token: String,
}

impl Api {
    pub(super) async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut tries = 0;
        loop {
            let connection = match self.connection.as_mut() {
                Some(connection) => connection,
                None => self.connection.insert(Connection::open(&self.server)?),
            };
            let answer = match connection.send(method.clone(), path, bearer, body).await {
                Ok(answer) => answer,
                Err(error) if tries < MAX_RETRIES => {
                    // The exchange failed (the server restarting, say): a fresh client.
                    tracing::debug!(%error, "reconnecting");
                    self.connection = None;
                    tries += 1;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            match answer.retry_after() {
                Some(pause) if tries < MAX_RETRIES => {
                    self.progress
                        .set_message(format!("the server asked to wait {}s", pause.as_secs()));
                    tokio::time::sleep(pause.clamp(Duration::from_millis(200), MAX_PAUSE)).await;
                    self.progress.set_message("");
                    tries += 1;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// One step: a request that must answer `expected`; its JSON body.
    pub(super) async fn step(
        &mut self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Value,
        expected: u16,
    ) -> Result<Value> {
        let answer = self.send(method, path, Some(bearer), Some(&body)).await?;
        let value = answer.json(expected, path)?;
        self.done(&value);
        Ok(value)
    }

    pub(super) fn done(&mut self, value: &Value) {
        if let Some(token) = value["consistency_token"].as_str() {
            token.clone_into(&mut self.last_token);
        }
        self.steps += 1;
        self.progress.inc(1);
    }

    /// Registers `person` (or finds the account made by an earlier run) and signs in.
    pub(super) async fn sign_in(&mut self, person: &Person, password: &str) -> Result<Session> {
        let registered = self
            .send(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(&json!({"email": person.email, "password": password, "display_name": person.name})),
            )
            .await?;
        if registered.status != 409 {
            registered.json(201, "register")?;
        }
        let login = self
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"email": person.email, "password": password})),
            )
            .await?;
        if login.status == 401 {
            bail!(
                "{} exists already with another password: run the demo with that --password, or against a fresh database",
                person.email
            );
        }
        let session = login.json(200, "login")?;
        self.done(&Value::Null);
        let field = |name: &str| {
            session[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("login answered without `{name}`"))
        };
        Ok(Session {
            user_id: field("user_id")?,
            token: field("access_token")?,
        })
    }
}
