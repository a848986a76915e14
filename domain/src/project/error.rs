//! Why the Project aggregate refuses a command: one variant per rule.

use crate::error::{ErrorKind, FieldError, Refusal};

use super::values::Stage;
use crate::shared::access::Role;

/// A rule of the Project aggregate that a command broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectError {
    /// A value in the command is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The project id is taken.
    #[error("a project with this id already exists")]
    AlreadyExists,
    /// No such project, or the actor is not a member.
    #[error("project not found")]
    NotFound,
    /// The actor's role does not allow this.
    #[error("your role ({role}) does not allow this; it needs {needs}")]
    NotAllowed {
        /// The actor's role.
        role: Role,
        /// What the action needs.
        needs: &'static str,
    },
    /// The project is archived and read-only.
    #[error("the project is archived")]
    Archived,
    /// The requested stage is not the next one.
    #[error("the project is at stage {current}; the only next stage is {}", expected.map(Stage::as_str).unwrap_or("none (the workflow is complete)"))]
    StageOutOfOrder {
        /// Where the project is.
        current: Stage,
        /// What was asked for.
        requested: Stage,
        /// The one stage that may follow, if any.
        expected: Option<Stage>,
    },
    /// The user to remove is not a member.
    #[error("that user is not a member of the project")]
    NotAMember,
    /// The project's owner cannot be removed or demoted.
    #[error("the project owner cannot be removed or demoted")]
    OwnerIsPermanent,
    /// No API key of this project has this id.
    #[error("no API key of this project has this id")]
    UnknownApiKey,
    /// The project holds as many active keys as it may.
    #[error("the project has {max} active API keys already; revoke one first")]
    TooManyApiKeys {
        /// The limit.
        max: usize,
    },
    /// No webhook of this project has this id.
    #[error("no webhook of this project has this id")]
    UnknownWebhook,
    /// The project has as many active webhooks as it may.
    #[error("the project has {max} active webhooks already; remove one first")]
    TooManyWebhooks {
        /// The limit.
        max: usize,
    },
    /// A run of the workflow is going on: one at a time, and the stage is its to move.
    #[error("an execution of this project is running ({execution_id})")]
    ExecutionRunning {
        /// The running execution.
        execution_id: uuid::Uuid,
    },
    /// No invitation of this project has this id (or the token is not its).
    #[error("no such invitation")]
    UnknownInvitation,
    /// The invitation was sent to another address, or the acceptor's
    /// address is not verified yet.
    #[error("this invitation is for another address; sign in with the invited address, verified")]
    InvitationForSomeoneElse,
    /// The invitation expired, was accepted, taken back, or its sender may
    /// no longer invite.
    #[error("this invitation is no longer valid ({0})")]
    InvitationGone(&'static str),
    /// The project has as many pending invitations as it may.
    #[error("the project has {max} pending invitations already; revoke one first")]
    TooManyInvitations {
        /// The limit.
        max: usize,
    },
    /// Paid usage would take spending past the budget.
    #[error("this usage costs {cost_usd} USD but only {remaining_usd} USD of the budget remain")]
    BudgetExceeded {
        /// What is left of the budget.
        remaining_usd: rust_decimal::Decimal,
        /// What the refused usage would cost.
        cost_usd: rust_decimal::Decimal,
    },
}

impl Refusal for ProjectError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProjectError::Invalid(_) | ProjectError::StageOutOfOrder { .. } => ErrorKind::Invalid,
            ProjectError::NotFound
            | ProjectError::NotAMember
            | ProjectError::UnknownApiKey
            | ProjectError::UnknownWebhook
            | ProjectError::UnknownInvitation => ErrorKind::NotFound,
            ProjectError::NotAllowed { .. } | ProjectError::InvitationForSomeoneElse => ErrorKind::Forbidden,
            ProjectError::InvitationGone(_) => ErrorKind::Gone,
            ProjectError::AlreadyExists
            | ProjectError::Archived
            | ProjectError::OwnerIsPermanent
            | ProjectError::TooManyApiKeys { .. }
            | ProjectError::ExecutionRunning { .. }
            | ProjectError::TooManyWebhooks { .. }
            | ProjectError::TooManyInvitations { .. } => ErrorKind::Conflict,
            ProjectError::BudgetExceeded { .. } => ErrorKind::PaymentRequired,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ProjectError::Invalid(e) => vec![e.clone()],
            ProjectError::StageOutOfOrder { .. } => vec![FieldError::new("stage", self.to_string())],
            _ => vec![],
        }
    }
}
