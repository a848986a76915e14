//! Black-box tests: each starts the real services (or the real projection
//! engine) against the real PostgreSQL, in a database of its own cloned from
//! a migrated template, and drops it afterwards. `TEST_LOG=1` shows traces.

mod support;

mod abuse_limits;
mod account;
mod agents;
mod analytics;
mod analytics_property;
mod api_keys;
mod arbitration;
mod audit;
mod auth;
mod bad_input;
mod binary;
mod command_state;
mod concurrency;
mod config_reference;
mod conflicts;
mod conversations;
mod disclosure;
mod docs_page;
mod event_catalogue;
mod execution;
mod group_commit;
mod hostile_input;
mod idempotency;
mod invitations;
mod key_rotation;
mod lockout;
mod locks;
mod mail;
mod migrations;
mod operations;
mod people;
mod preferences;
mod pricing;
mod privacy;
mod project_analytics;
mod projections;
mod projects;
mod rate_limits;
mod readiness;
mod realtime;
mod realtime_people;
mod references;
mod refusals;
mod retention;
mod roles;
mod scale_out;
mod sessions;
mod split_services;
mod text_property;
mod upcasting;
mod usage;
mod webhooks;
