//! `projects`: each project's details (`rm_projects`) and its members
//! (`rm_project_members`), for the project routes and for every membership
//! check of the query API.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;
use zekka_domain::project::{ProjectEvent, ProjectStatus, Role};
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `projects` read model.
pub struct ProjectsProjection;

#[async_trait]
impl Projection for ProjectsProjection {
    fn name(&self) -> &'static str {
        "projects"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_projects",
            "rm_project_members",
            "rm_api_keys",
            "rm_invitations",
        ]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Project"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let project_id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<ProjectEvent>(event)? {
            ProjectEvent::ProjectCreated {
                name,
                description,
                budget_usd,
                owner_id,
                stage,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_projects
                            (project_id, name, description, owner_id, budget_usd, stage, status,
                             created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &project_id,
                        &name,
                        &description,
                        &owner_id,
                        &budget_usd,
                        &stage.as_str(),
                        &ProjectStatus::Active.as_str(),
                        at,
                    ],
                )
                .await?;
                upsert_member(tx, project_id, owner_id, Role::Owner, at).await?;
            }
            ProjectEvent::ProjectUpdated {
                name,
                description,
                budget_usd,
            } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_projects SET name = $2, description = $3, budget_usd = $4, updated_at = $5
                          WHERE project_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&project_id, &name, &description, &budget_usd, at])
                    .await?;
            }
            ProjectEvent::ProjectArchived {} => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_projects SET status = $2, updated_at = $3 WHERE project_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&project_id, &ProjectStatus::Archived.as_str(), at])
                    .await?;
            }
            ProjectEvent::ProjectStageAdvanced { to, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_projects SET stage = $2, updated_at = $3 WHERE project_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&project_id, &to.as_str(), at]).await?;
            }
            ProjectEvent::ProjectMemberAdded { user_id, role }
            | ProjectEvent::ProjectMemberRoleChanged { user_id, role } => {
                upsert_member(tx, project_id, user_id, role, at).await?;
                touch(tx, project_id, at).await?;
            }
            ProjectEvent::TokenUsageRecorded { spent_usd, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_projects SET spent_usd = $2, updated_at = $3 WHERE project_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&project_id, &spent_usd, at]).await?;
            }
            ProjectEvent::ProjectMemberRemoved { user_id } => {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_project_members WHERE project_id = $1 AND user_id = $2")
                    .await?;
                tx.execute(&delete, &[&project_id, &user_id]).await?;
                touch(tx, project_id, at).await?;
            }
            ProjectEvent::ApiKeyCreated {
                key_id,
                name,
                scopes,
                agent_id,
                secret_digest,
                created_by,
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_api_keys
                            (key_id, project_id, name, scopes, agent_id, secret_digest, created_by, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .await?;
                let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                tx.execute(
                    &insert,
                    &[
                        &key_id,
                        &project_id,
                        &name,
                        &scopes,
                        &agent_id,
                        &secret_digest,
                        &created_by,
                        at,
                    ],
                )
                .await?;
            }
            ProjectEvent::ApiKeyRevoked { key_id, .. } => {
                let revoke = tx
                    .prepare_cached("UPDATE rm_api_keys SET revoked_at = $2 WHERE key_id = $1")
                    .await?;
                tx.execute(&revoke, &[&key_id, at]).await?;
            }
            // The run itself is the `executions` read model's.
            ProjectEvent::ProjectExecutionStarted { .. } | ProjectEvent::ProjectExecutionEnded { .. } => {}
            // Webhooks and their deliveries are command-api's tables (the
            // signing secret never enters the event stream).
            ProjectEvent::WebhookAdded { .. } | ProjectEvent::WebhookRemoved { .. } => {}
            ProjectEvent::InvitationSent {
                invitation_id,
                email,
                role,
                invited_by,
                expires_at,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_invitations
                            (invitation_id, project_id, email, role, invited_by, expires_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &invitation_id,
                        &project_id,
                        &email,
                        &role.as_str(),
                        &invited_by,
                        &expires_at,
                        at,
                    ],
                )
                .await?;
            }
            ProjectEvent::InvitationAccepted { invitation_id, .. }
            | ProjectEvent::InvitationRevoked { invitation_id, .. } => {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_invitations WHERE invitation_id = $1")
                    .await?;
                tx.execute(&delete, &[&invitation_id]).await?;
            }
        }
        Ok(())
    }

    async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        // Usage records only move a project's total: keep the last one per
        // project and write them together; any other event of that project
        // is applied after its pending total, in stream order.
        let mut spent: HashMap<Uuid, (Decimal, DateTime<Utc>)> = HashMap::new();
        for event in events {
            let project_id = uuid_of(&event.aggregate_id)?;
            if event.event_type == "TokenUsageRecorded" {
                let usage = event
                    .payload
                    .get("TokenUsageRecorded")
                    .unwrap_or(&serde_json::Value::Null);
                spent.insert(
                    project_id,
                    (Spent::deserialize(usage)?.spent_usd, event.recorded_at),
                );
                continue;
            }
            if let Some(pending) = spent.remove(&project_id) {
                write_spent(tx, HashMap::from([(project_id, pending)])).await?;
            }
            self.apply(tx, event).await?;
        }
        write_spent(tx, spent).await
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_projects, rm_project_members, rm_api_keys, rm_invitations")
            .await?;
        Ok(())
    }
}

/// What a usage record tells this projection.
#[derive(serde::Deserialize)]
struct Spent {
    spent_usd: Decimal,
}

/// Sets each project's total spend (and its update time) in one statement.
async fn write_spent(
    tx: &Transaction<'_>,
    spent: HashMap<Uuid, (Decimal, DateTime<Utc>)>,
) -> Result<(), ProjectionError> {
    if spent.is_empty() {
        return Ok(());
    }
    let (ids, values): (Vec<Uuid>, Vec<(Decimal, DateTime<Utc>)>) = spent.into_iter().unzip();
    let (totals, times): (Vec<Decimal>, Vec<DateTime<Utc>>) = values.into_iter().unzip();
    let update = tx
        .prepare_cached(
            "UPDATE rm_projects p SET spent_usd = u.spent, updated_at = u.at
               FROM unnest($1::uuid[], $2::numeric[], $3::timestamptz[]) u(id, spent, at)
              WHERE p.project_id = u.id",
        )
        .await?;
    tx.execute(&update, &[&ids, &totals, &times]).await?;
    Ok(())
}

async fn upsert_member(
    tx: &Transaction<'_>,
    project_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: Role,
    at: &chrono::DateTime<chrono::Utc>,
) -> Result<(), ProjectionError> {
    let upsert = tx
        .prepare_cached(
            "INSERT INTO rm_project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        )
        .await?;
    tx.execute(&upsert, &[&project_id, &user_id, &role.as_str(), at])
        .await?;
    Ok(())
}

async fn touch(
    tx: &Transaction<'_>,
    project_id: uuid::Uuid,
    at: &chrono::DateTime<chrono::Utc>,
) -> Result<(), ProjectionError> {
    let update = tx
        .prepare_cached("UPDATE rm_projects SET updated_at = $2 WHERE project_id = $1")
        .await?;
    tx.execute(&update, &[&project_id, at]).await?;
    Ok(())
}
