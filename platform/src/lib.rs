//! What every Zekka service shares (the event store is `zekka-event-store`).
//!
//! # Layout
//! - [`auth`]: the bearer security schemes (access tokens; API keys where agents may call).
//! - [`policy`]: the access policy: may this person, key or system role do this?
//! - [`api_keys`]: project API keys: issue, verify (cached), revoke, last use.
//! - [`blobs`]: sources' bytes in an object store, content-addressed per project.
//! - [`config`]: typed configuration from the environment, with local defaults.
//! - [`telemetry`]: tracing set-up (human or JSON logs).
//! - [`metrics`]: the Prometheus registry and every metric the services export.
//! - [`ephemeral`]: short-lived shared state (Redis, or memory without it).
//! - [`locks`]: file locks on the context bus, with fencing tokens.
//! - [`tokens`]: PASETO v4.public access tokens, signed and verified.
//! - [`signing_keys`]: where the token keys come from, and their rotation without downtime.
//! - [`money`]: money as exact decimal strings.
//! - [`notifications`]: what each event means to clients (socket messages, webhook deliveries).
//! - [`password`]: argon2id hashing off the async runtime.
//! - [`problem`]: `application/problem+json` errors.
//! - [`http`]: the routes and middleware every service has (health, metrics, request ids).
//! - [`input`]: request fields whose schema states the rule the domain checks.
//! - [`rate_limit`]: fixed-window rate limits with 429 answers.
//! - [`revocation`]: deny-lists of revoked access tokens.
//! - [`redis`]: the optional Redis client.
//! - [`secret_token`]: opaque random secrets kept only as digests.
//! - [`shutdown`]: graceful shutdown as a value.
//! - [`tasks`]: a service's background work as named tasks, run together.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod ephemeral;
pub mod http;
pub mod input;
pub mod locks;
pub mod metrics;
pub mod money;
pub mod notifications;
pub mod password;
pub mod policy;
pub mod problem;
pub mod rate_limit;
pub mod redis;
pub mod relay;
pub mod revocation;
pub mod runtime_probe;
pub mod secret_token;
pub mod shutdown;
pub mod signing_keys;
pub mod tasks;
pub mod telemetry;
pub mod tokens;

pub use config::Config;
pub use problem::Problem;
