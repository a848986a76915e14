//! The command routes, one module per resource.

pub mod account;
pub mod auth;
pub mod projects;

use poem_openapi::Tags;

/// OpenAPI tags of the command routes.
#[derive(Tags)]
pub enum CommandTags {
    /// Registration and sign-in.
    Auth,
    /// Creating and changing projects.
    Projects,
}
