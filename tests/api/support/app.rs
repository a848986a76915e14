//! A running Zekka (all services, one port) on a test database.

use std::net::SocketAddr;

use serde_json::{Value, json};
use zekka::{App, Services};
use zekka_platform::shutdown::{self, ShutdownTrigger};
use zekka_platform::{Config, telemetry};

use super::database::TestDatabase;
use super::http::{self, Response};

/// The app of one test. Stops when dropped; its database is dropped after.
/// Requests go through its [`Client`].
pub struct TestApp {
    client: Client,
    trigger: ShutdownTrigger,
    pub db: TestDatabase,
    /// Held while the app reads through the shared replica, so no test
    /// pauses its replay meanwhile.
    replay: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
}

/// Requests to a running service at `addr`, as a user of the API makes them.
#[derive(Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
}

impl std::ops::Deref for TestApp {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The Redis tests use: `TEST_REDIS_URL`, else the local one.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix of one test's own.
pub fn redis_prefix() -> String {
    format!("zekka-test:{}:", uuid::Uuid::new_v4().simple())
}

/// The one-time token in a mailed link (`…?token=zkp_…`).
pub fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("a link with a token") + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The addresses that become system admins once verified ([`Client::admin`]).
pub const ADMIN_EMAILS: &str = "admin@zekka.test,operator@zekka.test,auditor@zekka.test";

/// The configuration tests run with: a test database, Redis under a prefix
/// of the test's own, any free port, fast polling; `overrides` win (an empty
/// `REDIS_URL` runs without Redis).
pub fn test_config_with(database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let prefix = redis_prefix();
    let config = Config::from_lookup(|name| {
        if let Some((_, value)) = overrides.iter().find(|(key, _)| *key == name) {
            return Some((*value).to_owned());
        }
        match name {
            "HOST" => Some("127.0.0.1".into()),
            "PORT" => Some("0".into()),
            "PROJECTOR_POLL_MS" => Some("50".into()),
            // The mailer empties a mail's body once sent (it holds one-time
            // links): tests read the links from the outbox before that, so
            // it sends only where a test asks for it.
            "MAIL_POLL_MS" => Some("3600000".into()),
            "ZEKKA_ADMIN_EMAILS" => Some(ADMIN_EMAILS.into()),
            "DATABASE_POOL_SIZE" => Some("4".into()),
            "SHUTDOWN_GRACE_SECONDS" => Some("5".into()),
            "REDIS_URL" => Some(redis_url()),
            "REDIS_PREFIX" => Some(prefix.clone()),
            // Sources' bytes beside the test's database, removed with it.
            "SOURCES_DIR" => Some(super::database::sources_dir(database_url).display().to_string()),
            _ => None,
        }
    })
    .expect("test configuration");
    config.with_database_url(database_url)
}

/// [`test_config_with`] without overrides.
pub fn test_config(database_url: &str) -> Config {
    test_config_with(database_url, &[])
}

/// Starts every service on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts every service on a fresh database with configuration `overrides`.
/// With `ZEKKA_TEST_READ_REPLICA` set, the query API reads through the
/// harness's streaming replica (`support::replica`): CI runs the read and
/// consistency tests a second time that way.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::migrated().await;
    if std::env::var_os("ZEKKA_TEST_READ_REPLICA").is_some() {
        let replay = super::replica::REPLAY.read().await;
        let replica = super::replica::replica().await;
        replica.caught_up_with(&db).await;
        let read_url = replica.url_for(&db.name);
        let mut all = vec![("DATABASE_READ_URL", read_url.as_str())];
        all.extend_from_slice(overrides);
        let config = test_config_with(&db.url, &all);
        let mut app = spawn_on(db, config).await;
        app.replay = Some(replay);
        return app;
    }
    let config = test_config_with(&db.url, overrides);
    spawn_on(db, config).await
}

/// Starts every service on `db` with `config`.
pub async fn spawn_on(db: TestDatabase, config: Config) -> TestApp {
    let (addr, trigger) = start_service(config, Services::All).await;
    TestApp {
        client: Client { addr },
        trigger,
        db,
        replay: None,
    }
}

/// Starts `services` with `config`; they stop when the trigger is dropped or pulled.
pub async fn start_service(config: Config, services: Services) -> (SocketAddr, ShutdownTrigger) {
    if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init(zekka_platform::config::LogFormat::Text);
    }
    let app = App::build(config, services).await.expect("app builds");
    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let (trigger, stop) = shutdown::channel();
    tokio::spawn(app.run_until(stop));
    (addr, trigger)
}

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery";

/// A registered, signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
    pub refresh_token: String,
    pub email: String,
}

impl Client {
    /// Sends a request, with a bearer token when given.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        http::json_request(self.addr, method, path, token, body).await
    }

    /// Sends a request with arbitrary headers and a raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        http::send(self.addr, method, path, headers, body)
            .await
            .expect("request sent")
    }

    /// GET with a bearer token and a consistency token.
    pub async fn get_consistent(&self, path: &str, token: &str, consistency: &str) -> Response {
        let bearer = format!("Bearer {token}");
        self.raw(
            "GET",
            path,
            &[("Authorization", &bearer), ("X-Consistency-Token", consistency)],
            None,
        )
        .await
    }

    /// Registers and signs in a user named `name`.
    pub async fn user(&self, name: &str) -> User {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        self.register(&email, name).await;
        self.signed_in(email).await
    }

    /// Registers `email` as `name` with [`PASSWORD`].
    async fn register(&self, email: &str, name: &str) {
        let registered = self
            .request(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(&json!({"email": email, "password": PASSWORD, "display_name": name})),
            )
            .await;
        assert_eq!(registered.status, 201, "{}", registered.text());
    }

    /// Signs in as `email` with [`PASSWORD`].
    async fn signed_in(&self, email: String) -> User {
        let login = self.login(&email, PASSWORD).await;
        assert_eq!(login.status, 200, "{}", login.text());
        let body = login.json();
        User {
            id: body["user_id"].as_str().expect("user_id").to_owned(),
            token: body["access_token"].as_str().expect("token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh token").to_owned(),
            email,
        }
    }

    /// An API key of `project` issued by `owner`, with `scopes`, bound to
    /// `agent` when given.
    pub async fn api_key(&self, owner: &User, project: &str, scopes: Value, agent: Option<&str>) -> String {
        let created = self
            .request(
                "POST",
                &format!("/api/v1/projects/{project}/api-keys"),
                Some(&owner.token),
                Some(&json!({"name": "agent key", "scopes": scopes, "agent_id": agent})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        created.json()["key"].as_str().expect("key").to_owned()
    }

    /// Signs in with `email` and `password`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Registers an agent named `name` in `project` (a developer on
    /// claude-sonnet); returns its id.
    pub async fn agent(&self, owner: &User, project: &str, name: &str) -> String {
        let body =
            json!({"project_id": project, "name": name, "kind": "developer", "model": "claude-sonnet"});
        let registered = self
            .request("POST", "/api/v1/agents", Some(&owner.token), Some(&body))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.text());
        registered.json()["id"].as_str().expect("id").to_owned()
    }

    /// Starts a conversation titled `title` in `project`; returns (id,
    /// consistency token).
    pub async fn conversation(&self, user: &User, project: &str, title: &str) -> (String, String) {
        let started = self
            .request(
                "POST",
                "/api/v1/conversations",
                Some(&user.token),
                Some(&json!({"project_id": project, "title": title})),
            )
            .await;
        assert_eq!(started.status, 201, "{}", started.text());
        let body = started.json();
        (
            body["id"].as_str().expect("id").to_owned(),
            body["consistency_token"].as_str().expect("token").to_owned(),
        )
    }

    /// Sends `content` to `conversation` as `user`; returns the answer's body.
    pub async fn send_message(&self, user: &User, conversation: &str, content: &str) -> Value {
        let sent = self
            .request(
                "POST",
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(&user.token),
                Some(&json!({"content": content})),
            )
            .await;
        assert_eq!(sent.status, 201, "{}", sent.text());
        sent.json()
    }

    /// Adds `member` to `project` with `role`, as `owner`; returns the
    /// consistency token.
    pub async fn add_member(&self, owner: &User, project: &str, member: &User, role: &str) -> String {
        let added = self
            .request(
                "POST",
                &format!("/api/v1/projects/{project}/members"),
                Some(&owner.token),
                Some(&json!({"user_id": member.id, "role": role})),
            )
            .await;
        assert_eq!(added.status, 200, "{}", added.text());
        added.json()["consistency_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Creates a project owned by `user`; returns (id, consistency token).
    pub async fn project(&self, user: &User, name: &str) -> (String, String) {
        let created = self
            .request(
                "POST",
                "/api/v1/projects",
                Some(&user.token),
                Some(&json!({"name": name})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let body = created.json();
        (
            body["id"].as_str().expect("id").to_owned(),
            body["consistency_token"].as_str().expect("token").to_owned(),
        )
    }
}

impl TestApp {
    /// Registers and signs in a user named `name` (lower case: it is the
    /// start of the address), who then verifies the address with the link
    /// mailed to it.
    pub async fn verified_user(&self, name: &str) -> User {
        let user = self.user(name).await;
        self.verify_email(&user.email).await;
        user
    }

    /// Verifies `email` with the link mailed to it.
    async fn verify_email(&self, email: &str) {
        let token = token_in(&self.mail(email, "email_verification").await);
        let verified = self
            .request(
                "POST",
                "/api/v1/auth/verify-email",
                None,
                Some(&json!({"token": token})),
            )
            .await;
        assert_eq!(verified.status, 204, "{}", verified.text());
    }

    /// Registers `{name}@zekka.test` (one of [`ADMIN_EMAILS`]), verifies the
    /// address with the link mailed to it, and signs in: a system admin.
    pub async fn admin(&self, name: &str) -> User {
        let email = format!("{name}@zekka.test");
        self.register(&email, name).await;
        self.verify_email(&email).await;
        let user = self.signed_in(email).await;
        let roles = crate::support::http::claims_roles(&user.token);
        assert!(
            roles.contains(&"admin".to_owned()),
            "{name} is not an admin: {roles:?}"
        );
        user
    }

    /// The newest mail of `purpose` to `recipient` in the outbox, waiting for it.
    pub async fn mail(&self, recipient: &str, purpose: &str) -> String {
        let client = self.db.connect().await;
        for _ in 0..100 {
            let row = client
                .query_opt(
                    "SELECT body FROM mail_outbox WHERE recipient = $1 AND purpose = $2
                      ORDER BY created_at DESC LIMIT 1",
                    &[&recipient, &purpose],
                )
                .await
                .expect("read outbox");
            if let Some(row) = row {
                return row.get(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no {purpose} mail to {recipient}");
    }

    /// Appends an event no projection of `aggregate_type` can apply (a
    /// payload of no event of it), as a bug or a bad restore might: the
    /// projections reading that type stop at it. Returns its position.
    pub async fn append_poison(&self, aggregate_type: &str) -> i64 {
        self.db
            .connect()
            .await
            .query_one(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
                 VALUES ($1, gen_random_uuid()::text, 1, 'Garbled', '1.0', '{\"Garbled\": {}}', '{}', 'by hand')
                 RETURNING global_position",
                &[&aggregate_type],
            )
            .await
            .expect("append the poison event")
            .get(0)
    }

    /// How many events the store holds.
    pub async fn event_count(&self) -> i64 {
        self.db
            .connect()
            .await
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .expect("count events")
            .get(0)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}
