//! The query routes, one module per resource.

pub mod agents;
pub mod analytics;
pub mod audit;
pub mod conflicts;
pub mod conversations;
pub mod preferences;
pub mod pricing;
pub mod privacy;
pub mod project_analytics;
pub mod projections;
pub mod projects;
pub mod search;
pub mod sources;
pub mod users;

use poem_openapi::Tags;

/// OpenAPI tags of the query routes.
#[derive(Tags)]
pub enum QueryTags {
    /// Reading projects.
    Projects,
    /// Reading accounts.
    Users,
    /// Reading conversations and messages.
    Conversations,
    /// Reading preferences.
    Preferences,
    /// Reading model prices.
    Pricing,
    /// Reading agents.
    Agents,
    /// Reading conflicts.
    Conflicts,
    /// Reading a project's files and folders.
    Sources,
    /// Full-text search over what the caller may read.
    Search,
    /// Analytics.
    Analytics,
    /// The audit trail and its integrity (auditors, admins, and members for their projects).
    Audit,
    /// Operating the backend (system admins).
    Operations,
}
