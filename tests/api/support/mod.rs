//! The test harness: databases, a running app, an HTTP client.

pub mod app;
pub mod database;
pub mod http;
pub mod random;
pub mod redis;
pub mod replica;
pub mod s3;

pub use app::{spawn_app, spawn_app_with};
pub use database::TestDatabase;
