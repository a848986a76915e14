//! Commands of the Project aggregate, built from validated values only.

use uuid::Uuid;

use super::values::{Budget, Description, ProjectName, Scope, Stage};
use crate::pricing::Price;
use crate::shared::access::Role;
use crate::shared::text::Label;

/// Tokens an agent spent, to be charged to the project's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    /// The id chosen for this record (UUIDv7).
    pub usage_id: Uuid,
    /// Who reports it.
    pub actor: Uuid,
    /// The agent that spent them.
    pub agent_id: Uuid,
    /// The model used.
    pub model: String,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// The conversation they were spent in, if any.
    pub conversation_id: Option<Uuid>,
    /// The task they were spent on, if any.
    pub task_id: Option<Uuid>,
    /// The model's price in force now, read from its price history.
    pub price: Price,
}

/// An invitation to send: who, as what, and its one-time token.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInvitation {
    /// The id chosen for it (UUIDv7).
    pub invitation_id: Uuid,
    /// The address invited, normalised (parsed by the caller as a
    /// registration's would be).
    pub email: String,
    /// Its blind index.
    pub email_index: String,
    /// The role on accepting.
    pub role: Role,
    /// Digest of the mailed token.
    pub token_hash: String,
    /// When the link stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Something a user asks of a project.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectCommand {
    /// Create a new project owned by `owner_id`.
    Create {
        /// The id chosen for it (UUIDv7).
        project_id: Uuid,
        /// Its name.
        name: ProjectName,
        /// Its description.
        description: Description,
        /// Its budget, if any.
        budget: Option<Budget>,
        /// The creating user, who becomes owner.
        owner_id: Uuid,
    },
    /// Change some details; `None` leaves a field as it is.
    Update {
        /// Who asks.
        actor: Uuid,
        /// A new name.
        name: Option<ProjectName>,
        /// A new description.
        description: Option<Description>,
        /// A new budget: `Some(None)` removes it.
        budget: Option<Option<Budget>>,
    },
    /// Archive the project (owners only).
    Archive {
        /// Who asks.
        actor: Uuid,
    },
    /// Move to `stage`, which must be the next one.
    AdvanceStage {
        /// Who asks.
        actor: Uuid,
        /// The stage asked for.
        stage: Stage,
    },
    /// Add a member, or change an existing member's role.
    AddMember {
        /// Who asks.
        actor: Uuid,
        /// The user to add.
        user_id: Uuid,
        /// Their role.
        role: Role,
    },
    /// Remove a member.
    RemoveMember {
        /// Who asks.
        actor: Uuid,
        /// The member to remove.
        user_id: Uuid,
    },
    /// Charge token usage to the budget. The project owns the budget, so
    /// the check and the append are one decision on one stream: concurrent
    /// records can never overspend.
    RecordUsage(UsageRecord),
    /// Issue an API key (owners and admins).
    CreateApiKey {
        /// Who asks.
        actor: Uuid,
        /// The id chosen for it (UUIDv7).
        key_id: Uuid,
        /// What it is for.
        name: Label,
        /// What it may do: at least one scope.
        scopes: Vec<Scope>,
        /// The agent it acts for, if bound to one (checked to be the project's).
        agent_id: Option<Uuid>,
        /// SHA-256 of its secret, hex.
        secret_digest: String,
    },
    /// Start a run of the workflow (owners and admins); one at a time.
    StartExecution {
        /// Who asks.
        actor: Uuid,
        /// The id chosen for the run (UUIDv7).
        execution_id: Uuid,
        /// At most this many of its tasks are claimed at once.
        max_parallel_tasks: u32,
    },
    /// The running execution finished `stage`'s predecessor and moves the
    /// project on to `stage`. Reaching a stage the project is at (or past)
    /// changes nothing, so the orchestrator may repeat it.
    ReachStage {
        /// The run.
        execution_id: Uuid,
        /// The stage reached.
        stage: Stage,
    },
    /// The run is over (completed or cancelled): another may start. Ending
    /// a run that is not the running one changes nothing.
    EndExecution {
        /// The run.
        execution_id: Uuid,
    },
    /// Add a webhook (owners and admins; at most [`super::MAX_WEBHOOKS`] active).
    AddWebhook {
        /// Who asks.
        actor: Uuid,
        /// The id chosen for it (UUIDv7).
        webhook_id: Uuid,
        /// Where deliveries go (validated by the application: scheme, host).
        url: String,
        /// The message types it receives (validated against the ones that exist).
        events: Vec<String>,
    },
    /// Invite someone by email (owners and admins; only an owner invites an owner).
    Invite {
        /// Who asks.
        actor: Uuid,
        /// The invitation.
        invitation: NewInvitation,
    },
    /// Take back a pending invitation (owners and admins).
    RevokeInvitation {
        /// Who asks.
        actor: Uuid,
        /// The invitation.
        invitation_id: Uuid,
    },
    /// Accept an invitation with its token, as the signed-in person whose
    /// verified address it was sent to.
    AcceptInvitation {
        /// The invitation.
        invitation_id: Uuid,
        /// Digest of the presented token.
        token_hash: String,
        /// Who accepts.
        user_id: Uuid,
        /// The blind index of their address, when it is verified.
        verified_email_index: Option<String>,
        /// Now.
        now: chrono::DateTime<chrono::Utc>,
    },
    /// Remove a webhook (owners and admins); removing a removed one changes nothing.
    RemoveWebhook {
        /// Who asks.
        actor: Uuid,
        /// The webhook.
        webhook_id: Uuid,
    },
    /// Revoke an API key (owners and admins); revoking a revoked key changes nothing.
    RevokeApiKey {
        /// Who asks.
        actor: Uuid,
        /// The key.
        key_id: Uuid,
    },
}
