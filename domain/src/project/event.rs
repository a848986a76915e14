//! Events of the Project aggregate. Their names and fields are a persisted
//! contract: add fields with defaults, never rename.

use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{Scope, Stage};
use crate::shared::access::Role;

/// Something that happened to a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProjectEvent {
    /// A project was created; its creator is its owner and first member.
    ProjectCreated {
        /// The project's id.
        project_id: Uuid,
        /// Its name.
        name: String,
        /// Its description (empty when none was given).
        description: String,
        /// Its budget in USD, if it has one.
        budget_usd: Option<Decimal>,
        /// The user who created it and owns it.
        owner_id: Uuid,
        /// The stage it starts at.
        stage: Stage,
    },
    /// A project's details changed; carries the resulting values.
    ProjectUpdated {
        /// The name after the change.
        name: String,
        /// The description after the change.
        description: String,
        /// The budget after the change.
        budget_usd: Option<Decimal>,
    },
    /// A project was archived by its owner.
    ProjectArchived {},
    /// A project moved to the next workflow stage.
    ProjectStageAdvanced {
        /// The stage it left.
        from: Stage,
        /// The stage it entered.
        to: Stage,
    },
    /// A user joined the project.
    ProjectMemberAdded {
        /// The new member.
        user_id: Uuid,
        /// Their role.
        role: Role,
    },
    /// A member's role changed.
    ProjectMemberRoleChanged {
        /// The member.
        user_id: Uuid,
        /// Their new role.
        role: Role,
    },
    /// A member left the project.
    ProjectMemberRemoved {
        /// The former member.
        user_id: Uuid,
    },
    /// Tokens were spent and charged. Carries the price applied and the
    /// resulting total, so history never changes when prices do.
    TokenUsageRecorded {
        /// The record's id.
        usage_id: Uuid,
        /// The agent that spent them.
        agent_id: Uuid,
        /// The model used.
        model: String,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// The conversation, if any.
        conversation_id: Option<Uuid>,
        /// The task, if any.
        task_id: Option<Uuid>,
        /// The input price applied (USD per million tokens).
        input_usd_per_million: Decimal,
        /// The output price applied (USD per million tokens).
        output_usd_per_million: Decimal,
        /// The exact cost of this record.
        cost_usd: Decimal,
        /// Of which the input tokens (since version 2.0; upcast before).
        input_cost_usd: Decimal,
        /// Of which the output tokens (since version 2.0; upcast before).
        output_cost_usd: Decimal,
        /// The project's total spend after it.
        spent_usd: Decimal,
    },
    /// An API key was issued for the project. Only the digest of its secret
    /// is kept; the secret was shown once, in the answer.
    ApiKeyCreated {
        /// The key's id (the part of the key before its secret).
        key_id: Uuid,
        /// What it is for.
        name: String,
        /// What it may do.
        scopes: Vec<Scope>,
        /// The one agent it acts for, when bound.
        agent_id: Option<Uuid>,
        /// SHA-256 of the secret, hex.
        secret_digest: String,
        /// Who issued it.
        created_by: Uuid,
    },
    /// A webhook was added (its signing secret is kept outside the event
    /// stream, which members may read in the audit).
    WebhookAdded {
        /// The webhook.
        webhook_id: Uuid,
        /// Where deliveries go.
        url: String,
        /// The message types it receives.
        events: Vec<String>,
        /// Who added it.
        created_by: Uuid,
    },
    /// A webhook was removed: nothing more is delivered to it.
    WebhookRemoved {
        /// The webhook.
        webhook_id: Uuid,
        /// Who removed it.
        removed_by: Uuid,
    },
    /// A run of the workflow began (the Execution stream of that id holds it).
    ProjectExecutionStarted {
        /// The run.
        execution_id: Uuid,
        /// The stage it starts at.
        stage: Stage,
        /// At most this many of its tasks are claimed at once.
        max_parallel_tasks: u32,
        /// Who started it.
        started_by: Uuid,
    },
    /// The run ended: another may start.
    ProjectExecutionEnded {
        /// The run.
        execution_id: Uuid,
    },
    /// Someone was invited by email; a one-time link is mailed to them.
    InvitationSent {
        /// The invitation.
        invitation_id: Uuid,
        /// Who is invited (*sealed* under the invitation's own key).
        email: String,
        /// The address's blind index: what an acceptor's verified address
        /// is matched against.
        email_index: String,
        /// The role they get on accepting.
        role: Role,
        /// The owner or admin who invited them.
        invited_by: Uuid,
        /// Digest of the mailed token.
        token_hash: String,
        /// When the link stops working.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// The invited person accepted (a `ProjectMemberAdded` follows when
    /// they were not a member yet).
    InvitationAccepted {
        /// The invitation.
        invitation_id: Uuid,
        /// The account that accepted.
        user_id: Uuid,
    },
    /// An owner or admin took the invitation back.
    InvitationRevoked {
        /// The invitation.
        invitation_id: Uuid,
        /// Who took it back.
        revoked_by: Uuid,
    },
    /// An API key was revoked; it stops working at once.
    ApiKeyRevoked {
        /// The key.
        key_id: Uuid,
        /// Who revoked it.
        revoked_by: Uuid,
    },
}

impl DomainEvent for ProjectEvent {
    fn event_type(&self) -> String {
        match self {
            ProjectEvent::ProjectCreated { .. } => "ProjectCreated",
            ProjectEvent::ProjectUpdated { .. } => "ProjectUpdated",
            ProjectEvent::ProjectArchived { .. } => "ProjectArchived",
            ProjectEvent::ProjectStageAdvanced { .. } => "ProjectStageAdvanced",
            ProjectEvent::ProjectMemberAdded { .. } => "ProjectMemberAdded",
            ProjectEvent::ProjectMemberRoleChanged { .. } => "ProjectMemberRoleChanged",
            ProjectEvent::ProjectMemberRemoved { .. } => "ProjectMemberRemoved",
            ProjectEvent::TokenUsageRecorded { .. } => "TokenUsageRecorded",
            ProjectEvent::ApiKeyCreated { .. } => "ApiKeyCreated",
            ProjectEvent::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            ProjectEvent::ProjectExecutionStarted { .. } => "ProjectExecutionStarted",
            ProjectEvent::WebhookAdded { .. } => "WebhookAdded",
            ProjectEvent::WebhookRemoved { .. } => "WebhookRemoved",
            ProjectEvent::ProjectExecutionEnded { .. } => "ProjectExecutionEnded",
            ProjectEvent::InvitationSent { .. } => "InvitationSent",
            ProjectEvent::InvitationAccepted { .. } => "InvitationAccepted",
            ProjectEvent::InvitationRevoked { .. } => "InvitationRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            // 2.0 splits the cost into input and output (`crate::upcasting`).
            ProjectEvent::TokenUsageRecorded { .. } => "2.0",
            _ => "1.0",
        }
        .to_owned()
    }
}
