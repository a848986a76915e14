//! The `zekka` process: builds any set of the three services (command-api,
//! query-api, projectors) over one configuration and runs them until
//! shutdown. `zekka up` runs all three on one port; `zekka serve <service>`
//! runs one, as `compose.yaml` does. Each service builds itself
//! (`CommandService`, `QueryService`, `ProjectorService`) and says what it
//! serves and what it runs in the background; this crate prepares what
//! they share (database, pools, Redis, keys), merges their routes behind
//! one middleware stack, and runs every task in one `JoinSet`.
//!
//! # Layout
//! - [`App`]: build the chosen services, learn the bound port, run until shutdown.
//! - [`Services`]: which services a process runs.
//! - [`demo`]: `zekka demo`, a realistic data set sent through the public API.
//! - `openapi`: the served OpenAPI document, with paths both APIs declare merged
//!   and optional fields marked nullable.
#![forbid(unsafe_code)]

pub mod demo;
mod openapi;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::Cors;
use poem::{EndpointExt, Route, Server};
use poem_openapi::{OpenApi, OpenApiService};
use zekka_command_api::{CommandService, CommandState};
use zekka_event_store::database::{self, ReadPool};
use zekka_platform::ephemeral::Ephemeral;
use zekka_platform::http::{self, ProxyTrust, Readiness};
use zekka_platform::locks::LockBus;
use zekka_platform::revocation::Revocations;
use zekka_platform::shutdown::Shutdown;
use zekka_platform::signing_keys::Keyring;
use zekka_platform::tasks::Task;
use zekka_platform::{Config, redis};
use zekka_projectors::service::ProjectorService;
use zekka_query_api::QueryService;

/// The largest request body accepted (messages are at most 64 KiB).
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The largest body `req` may send: an upload of a source a byte more than
/// a source may hold (so the route itself meets the excess and refuses it,
/// keeping nothing), anything else [`MAX_BODY_BYTES`].
fn body_limit(req: &poem::Request) -> u64 {
    let is_upload = req.method() == poem::http::Method::POST
        && req
            .uri()
            .path()
            .strip_prefix("/api/v1/projects/")
            .and_then(|rest| rest.strip_suffix("/sources"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if is_upload {
        zekka_domain::source::MAX_SOURCE_BYTES + 1
    } else {
        MAX_BODY_BYTES
    }
}

/// Which services one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// command-api, query-api and projectors on one port (`zekka up`).
    All,
    /// Only the write routes.
    CommandApi,
    /// Only the read routes.
    QueryApi,
    /// Only the projectors (with health and metrics routes).
    Projectors,
}

impl Services {
    fn commands(self) -> bool {
        matches!(self, Services::All | Services::CommandApi)
    }

    fn queries(self) -> bool {
        matches!(self, Services::All | Services::QueryApi)
    }

    fn projectors(self) -> bool {
        matches!(self, Services::All | Services::Projectors)
    }
}

/// A built, not yet running, Zekka process.
pub struct App {
    acceptor: poem::listener::TcpAcceptor,
    port: u16,
    endpoint: BoxEndpoint<'static>,
    commands: Option<CommandService>,
    queries: Option<QueryService>,
    projectors: Option<ProjectorService>,
    keyring: Arc<Keyring>,
    pools: (ReadPool, sqlx::PgPool),
    config: Config,
}

/// CORS for `origins` (none configured: no CORS headers, so browsers refuse
/// cross-origin calls).
fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    Some(
        Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ])
            .allow_headers([
                "authorization",
                "content-type",
                "idempotency-key",
                "x-consistency-token",
                "x-request-id",
            ])
            .expose_headers([
                "x-consistency-token",
                "x-request-id",
                "retry-after",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
            ])
            .max_age(600),
    )
}

fn openapi_routes<T: OpenApi + 'static>(apis: T) -> Route {
    let service = OpenApiService::new(apis, "Zekka", env!("CARGO_PKG_VERSION")).server("/");
    let written = service.spec();
    let document = openapi::served(&written, &zekka_command_api::http::routes::preferences::shapes());
    // The page embeds the document as a JavaScript object, where paths
    // written twice would keep only their last side: embed the served one.
    let page = service.swagger_ui_html().replacen(&written, &document, 1);
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let docs = Route::new().at(
        "/",
        poem::endpoint::make_sync(move |_| poem::web::Html(page.clone())),
    );
    let operations: Vec<(String, String)> = T::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .flat_map(|path| {
            path.operations
                .into_iter()
                .map(move |operation| (path.path.clone(), operation.method.to_string()))
        })
        .collect();
    let allowed =
        http::AllowedMethods::from_operations(operations.iter().map(|(p, m)| (p.as_str(), m.as_str())));
    Route::new()
        .nest(
            "/",
            service.around(move |ep, req| http::allow_on_405(ep, req, allowed.clone())),
        )
        .at("/openapi.json", spec)
        .nest("/docs", docs)
}

impl App {
    /// Prepares `services`: creates the database if missing, checks it keeps
    /// what it acknowledges, applies the migrations (under an advisory lock),
    /// connects the pools, loads the token keys, and binds the port.
    ///
    /// # Errors
    /// When the database is unreachable or runs with durability off, a
    /// migration fails or changed, a key is invalid, or the port is taken.
    pub async fn build(config: Config, services: Services) -> Result<Self> {
        database::ensure_database_exists(&config.database_url).await?;
        let write_pool = database::write_pool(&config.database_url, config.pool_size).await?;
        database::check_durability(&write_pool, config.allow_unsafe_db).await?;
        database::migrate(&write_pool).await?;
        let read_pool: ReadPool = database::read_pool(&config.database_url, config.pool_size)?;
        let redis = match &config.redis_url {
            Some(url) => Some(redis::connect(url).await?),
            None => None,
        };
        let ephemeral = match &redis {
            Some(client) => Ephemeral::redis(client.clone(), config.redis_prefix.clone()),
            None => {
                tracing::info!("no REDIS_URL: rate limits and revocations are kept in this process only");
                Ephemeral::local()
            }
        };

        let keyring = Arc::new(Keyring::load(&config, &write_pool, services.commands()).await?);
        let verifier = keyring.verifier();
        // The signing key is loaded only for a process that serves commands.
        let commands = match keyring.signer() {
            Some(signer) => Some(
                CommandService::build(
                    &config,
                    write_pool.clone(),
                    read_pool.clone(),
                    ephemeral.clone(),
                    signer.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let queries = if services.queries() {
            let (locks, keys) = match &commands {
                Some(commands) => (
                    commands.state().locks.clone(),
                    Some(commands.state().api_keys.clone()),
                ),
                None => (Arc::new(LockBus::new(&ephemeral)), None),
            };
            Some(QueryService::build(&config, read_pool.clone(), locks, keys, &ephemeral).await?)
        } else {
            None
        };
        let route = match (&commands, &queries) {
            (Some(commands), Some(queries)) => Some((
                openapi_routes((commands.apis(), queries.apis())).at("/api/v1/ws", queries.socket()),
                commands.state().api_keys.clone(),
            )),
            (Some(commands), None) => {
                Some((openapi_routes(commands.apis()), commands.state().api_keys.clone()))
            }
            (None, Some(queries)) => Some((
                openapi_routes(queries.apis()).at("/api/v1/ws", queries.socket()),
                queries.keys().clone(),
            )),
            (None, None) => None,
        };
        let readiness = Arc::new(Readiness {
            database: read_pool.clone(),
            redis,
            replica: queries.as_ref().and_then(|q| q.replica().cloned()),
        });
        let timeout = config.request_timeout;
        let idempotency_pool = services.commands().then(|| read_pool.clone());
        let endpoint = match route {
            Some((route, keys)) => with_idempotency(http::with_ops_routes(route), idempotency_pool)
                .data(verifier)
                .data(keys)
                .data(Revocations::new(ephemeral, read_pool.clone()))
                .data(readiness)
                .around(move |ep, req| http::time_limit(ep, req, timeout))
                .around(|ep, req| {
                    let limit = body_limit(&req);
                    http::limit_body(ep, req, limit)
                })
                .around(http::refuse_control_characters)
                .around(http::bodiless_is_json)
                .boxed(),
            None => http::with_ops_routes(Route::new()).data(readiness).boxed(),
        };
        let endpoint = match cors(&config.cors_origins) {
            Some(cors) => endpoint.with(cors).boxed(),
            None => endpoint,
        };
        let endpoint = endpoint
            .around(http::security_headers)
            .around(http::observe)
            .data(ProxyTrust(config.trusted_proxy_hops))
            .boxed();

        let read_pool_for_metrics = read_pool.clone();
        let projectors = if services.projectors() {
            Some(ProjectorService::build(&config, read_pool).await?)
        } else {
            None
        };

        let acceptor = TcpListener::bind((config.host, config.port))
            .into_acceptor()
            .await
            .with_context(|| format!("failed to listen on {}:{}", config.host, config.port))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(std::net::SocketAddr::port))
            .unwrap_or(config.port);
        Ok(Self {
            acceptor,
            port,
            endpoint,
            commands,
            queries,
            projectors,
            keyring,
            pools: (read_pool_for_metrics, write_pool),
            config,
        })
    }

    /// The port the process listens on (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then lets in-flight requests finish (up to
    /// the configured grace period) and each projector finish its batch.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, shutdown: Shutdown) -> Result<()> {
        let mut tasks = Vec::new();
        if let Some(projectors) = self.projectors {
            tasks.push(Task::new("projectors", projectors.run_until(shutdown.clone())));
        }
        if let Some(commands) = &self.commands {
            tasks.extend(commands.tasks(&shutdown)?);
        }
        if let Some(queries) = &self.queries {
            tasks.extend(queries.tasks(&shutdown));
        }
        tasks.push(Task::new(
            "token key refresher",
            self.keyring
                .clone()
                .keep_fresh(self.config.signing_key_refresh, shutdown.clone()),
        ));
        let (read_pool, write_pool) = self.pools;
        tasks.push(Task::new(
            "pool sampler",
            sample_pools(read_pool, write_pool, shutdown.clone()),
        ));
        tasks.push(Task::new(
            "runtime probe",
            zekka_platform::runtime_probe::run(shutdown.clone()),
        ));
        let background = tokio::spawn(zekka_platform::tasks::run_all(tasks));
        tracing::info!(port = self.port, "zekka listening");
        let mut signal = shutdown.clone();
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                self.endpoint,
                async move { signal.wait().await },
                Some(self.config.shutdown_grace),
            )
            .await;
        if let Err(error) = background.await {
            tracing::error!(%error, "the background tasks stopped abnormally");
        }
        tracing::info!("zekka stopped");
        served.context("the HTTP server failed")
    }
}

/// The command side alone, for the operator's commands (`zekka projections
/// skip`, `zekka users grant-role`): they decide and record events exactly
/// as the API does, without serving anything. Creates the database and
/// applies the migrations when needed.
///
/// # Errors
/// When the database or Redis is unreachable or a key is invalid.
pub async fn operator_commands(config: &Config) -> Result<Arc<CommandState>> {
    database::ensure_database_exists(&config.database_url).await?;
    let write_pool = database::write_pool(&config.database_url, config.pool_size).await?;
    database::migrate(&write_pool).await?;
    let read_pool = database::read_pool(&config.database_url, config.pool_size)?;
    let ephemeral = match &config.redis_url {
        Some(url) => Ephemeral::redis(redis::connect(url).await?, config.redis_prefix.clone()),
        None => Ephemeral::local(),
    };
    let keyring = Keyring::load(config, &write_pool, true).await?;
    let signer = keyring
        .signer()
        .context("no signing key is available to this process")?;
    CommandState::build(config, write_pool, read_pool, ephemeral, signer.clone()).await
}

/// Samples the database pools into `db_pool_connections` every few seconds.
async fn sample_pools(read: ReadPool, write: sqlx::PgPool, mut shutdown: Shutdown) {
    loop {
        database::sample_pools(&read, &write);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// `Idempotency-Key` on the writes, when this process serves them.
fn with_idempotency(routes: Route, pool: Option<ReadPool>) -> BoxEndpoint<'static> {
    match pool {
        Some(pool) => routes
            .around(move |ep, req| zekka_command_api::http::idempotency::idempotent(ep, req, pool.clone()))
            .boxed(),
        None => routes.boxed(),
    }
}
