//! What commands on project-owned aggregates need to know before they are
//! built: the owning project, the actor's standing in it, and facts about one
//! message, read from the event store itself (never from an eventually
//! consistent read model).

use cqrs_es::EventStore;
use uuid::Uuid;
use zekka_domain::conversation::MessageFacts;
use zekka_domain::project::ProjectStatus;
use zekka_domain::shared::access::ProjectAccess;
use zekka_platform::Problem;

use crate::dispatch;
use crate::state::CommandState;

impl CommandState {
    /// `actor`'s role in `project_id` and whether the project is archived.
    ///
    /// # Errors
    /// 503 or 500 when the database fails.
    pub async fn project_access(&self, project_id: Uuid, actor: Uuid) -> Result<ProjectAccess, Problem> {
        let context = self
            .project_store
            .load_aggregate(&project_id.to_string())
            .await
            .map_err(dispatch::refused)?;
        let project = context.aggregate;
        Ok(ProjectAccess {
            role: project.role_of(actor),
            project_archived: project.status == ProjectStatus::Archived,
        })
    }

    /// The project an aggregate belongs to, from the `project_id` of its
    /// first event (`ConversationStarted`, `AgentRegistered`, …), if it exists.
    ///
    /// # Errors
    /// 503 or 500 when the database fails.
    pub async fn owning_project(
        &self,
        aggregate_type: &'static str,
        id: Uuid,
    ) -> Result<Option<Uuid>, Problem> {
        // A stream's first event never changes: once read, the owner is kept.
        if let Some(project) = self.owners.get(&(aggregate_type, id)) {
            return Ok(Some(project));
        }
        let project: Option<Option<String>> = sqlx::query_scalar(
            "SELECT payload -> event_type ->> 'project_id' FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
        )
        .bind(aggregate_type)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        let project = project.flatten().and_then(|p| Uuid::parse_str(&p).ok());
        if let Some(project) = project {
            self.owners.put((aggregate_type, id), project);
        }
        Ok(project)
    }

    /// The project a task belongs to (through the agent it was assigned
    /// to), if the task exists.
    ///
    /// # Errors
    /// 503 or 500 when the database fails.
    pub async fn task_project(&self, task_id: Uuid) -> Result<Option<Uuid>, Problem> {
        if let Some(project) = self.owners.get(&("Task", task_id)) {
            return Ok(Some(project));
        }
        let agent: Option<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events
              WHERE aggregate_type = 'Agent' AND event_type = 'TaskAssigned'
                AND (payload -> 'TaskAssigned' ->> 'task_id')::uuid = $1
              LIMIT 1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        let Some(agent) = agent.and_then(|a| Uuid::parse_str(&a).ok()) else {
            return Ok(None);
        };
        let project = self.owning_project("Agent", agent).await?;
        if let Some(project) = project {
            self.owners.put(("Task", task_id), project);
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
        &self,
        conversation_id: Uuid,
        message_id: Uuid,
    ) -> Result<Option<MessageFacts>, Problem> {
        let row: Option<(Option<i64>, Option<String>, bool)> = sqlx::query_as(
            "WITH facts AS (
                 SELECT event_type, payload FROM events
                  WHERE aggregate_type = 'Conversation' AND aggregate_id = $1
                    AND (payload -> event_type ->> 'message_id') = $2
             )
             SELECT (SELECT max(sequence) FROM events
                      WHERE aggregate_type = 'Conversation' AND aggregate_id = $1),
                    (SELECT payload -> 'MessageSent' ->> 'author_id' FROM facts
                      WHERE event_type = 'MessageSent' LIMIT 1),
                    EXISTS (SELECT 1 FROM facts WHERE event_type = 'MessageDeleted')",
        )
        .bind(conversation_id.to_string())
        .bind(message_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        let Some((Some(version), Some(author), deleted)) = row else {
            return Ok(None);
        };
        let Ok(author_id) = Uuid::parse_str(&author) else {
            return Ok(None);
        };
        Ok(Some(MessageFacts {
            author_id,
            deleted,
            as_of_version: u64::try_from(version).unwrap_or(0),
        }))
    }
}
