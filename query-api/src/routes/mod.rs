//! The query routes, one module per resource.

pub mod projects;
pub mod users;

use poem_openapi::Tags;

/// OpenAPI tags of the query routes.
#[derive(Tags)]
pub enum QueryTags {
    /// Reading projects.
    Projects,
    /// Reading accounts.
    Users,
}
