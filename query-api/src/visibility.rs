//! The caller's standing in one project, through the one access policy
//! (`visible_projects`): what a project-scoped read checks before it reads.

use zekka_event_store::database::CachedQueries;
use zekka_platform::Problem;

/// `viewer`'s role in `project`, if they are a member.
///
/// # Errors
/// 503/500 when the database fails.
pub async fn role_in(
    client: &deadpool_postgres::Client,
    viewer: uuid::Uuid,
    project: uuid::Uuid,
) -> Result<Option<String>, Problem> {
    client
        .query_opt_cached(
            "SELECT role FROM visible_projects($1) WHERE project_id = $2",
            &[&viewer, &project],
        )
        .await
        .map_err(Problem::from_db)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(Problem::from_db)
}

/// `viewer`'s role in `project`; a 404 for anyone not a member, who is told
/// the project does not exist.
///
/// # Errors
/// 404 as above; 503/500 when the database fails.
pub async fn member(
    client: &deadpool_postgres::Client,
    viewer: uuid::Uuid,
    project: uuid::Uuid,
) -> Result<String, Problem> {
    role_in(client, viewer, project)
        .await?
        .ok_or_else(|| Problem::not_found("project not found"))
}

/// Checks `viewer` manages `project` (owner or admin): 404 for strangers,
/// 403 naming `what` for other members.
///
/// # Errors
/// 404 or 403 as above; 503/500 when the database fails.
pub async fn manager(
    client: &deadpool_postgres::Client,
    viewer: uuid::Uuid,
    project: uuid::Uuid,
    what: &str,
) -> Result<(), Problem> {
    match member(client, viewer, project).await?.as_str() {
        "owner" | "admin" => Ok(()),
        _ => Err(Problem::forbidden(format!(
            "only the project's owners and admins see its {what}"
        ))),
    }
}
