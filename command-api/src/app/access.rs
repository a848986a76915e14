//! What commands on project-owned aggregates need to know before they are
//! built: the owning project, the actor's standing in it, and facts about one
//! message, read from the event store itself (never from an eventually
//! consistent read model).

use uuid::Uuid;
use zekka_domain::conversation::MessageFacts;
use zekka_domain::project::{Project, ProjectStatus};
use zekka_domain::shared::access::ProjectAccess;
use zekka_event_store::lookups::{conversations, owners};
use zekka_event_store::store::Guard;

use crate::app::error::AppError;
use crate::app::state::CommandState;

/// `actor`'s role in `project_id` and whether the project is archived.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn project_access(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
) -> Result<ProjectAccess, AppError> {
    let context = state
        .projects
        .store()
        .state(&project_id.to_string())
        .await
        .map_err(AppError::from)?;
    let project = context;
    Ok(ProjectAccess {
        role: project.role_of(actor),
        project_archived: project.status == ProjectStatus::Archived,
    })
}

/// [`project_access`] from the project's state in memory (read only when
/// `fresh` or not held), with the [`Guard`] a command decided on it appends
/// under: it fails if the project's members or status changed since
/// ([`Project::ACCESS_EVENTS`]).
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn project_access_guarded(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    fresh: bool,
) -> Result<(ProjectAccess, Guard), AppError> {
    let (project, guard) = state
        .projects
        .store()
        .state_guarded(&project_id.to_string(), fresh, Project::ACCESS_EVENTS)
        .await
        .map_err(AppError::from)?;
    let access = ProjectAccess {
        role: project.role_of(actor),
        project_archived: project.status == ProjectStatus::Archived,
    };
    Ok((access, guard))
}

/// The project an aggregate belongs to, from the `project_id` of its
/// first event (`ConversationStarted`, `AgentRegistered`, …), if it exists.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn owning_project(
    state: &CommandState,
    aggregate_type: &'static str,
    id: Uuid,
) -> Result<Option<Uuid>, AppError> {
    // A stream's first event never changes: once read, the owner is kept.
    if let Some(project) = state.owners.get(&(aggregate_type, id)) {
        return Ok(Some(project));
    }
    let client = state.lookup_connection().await?;
    let project = owners::owning_project(&client, aggregate_type, id).await?;
    if let Some(project) = project {
        state.owners.put((aggregate_type, id), project);
    }
    Ok(project)
}

/// The project a task belongs to: an orchestrated task's own (its Task
/// stream's first event), or that of the agent a person assigned it to.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn task_project(state: &CommandState, task_id: Uuid) -> Result<Option<Uuid>, AppError> {
    if let Some(project) = state.owners.get(&("Task", task_id)) {
        return Ok(Some(project));
    }
    if let Some(project) = owning_project(state, "Task", task_id).await? {
        return Ok(Some(project));
    }
    let client = state.lookup_connection().await?;
    let agent = owners::task_agent(&client, task_id).await?;
    drop(client);
    let Some(agent) = agent else {
        return Ok(None);
    };
    let project = owning_project(state, "Agent", agent).await?;
    if let Some(project) = project {
        state.owners.put(("Task", task_id), project);
    }
    Ok(project)
}

/// Who wrote `message_id` and whether it was deleted, with the
/// conversation's version at the time of reading (one statement, one
/// snapshot). `None` when the conversation has no such message.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn message_facts(
    state: &CommandState,
    conversation_id: Uuid,
    message_id: Uuid,
) -> Result<Option<MessageFacts>, AppError> {
    let client = state.lookup_connection().await?;
    Ok(conversations::message_facts(&client, conversation_id, message_id).await?)
}
