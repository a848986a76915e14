//! Commands of the Conflict aggregate.

use uuid::Uuid;

use super::values::{ArbitrationOutcome, ConflictKind, Strategy};
use crate::pricing::ModelName;
use crate::shared::access::ProjectAccess;
use crate::shared::text::Detail;

/// Something asked of a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictCommand {
    /// Report a conflict.
    Report {
        /// The id chosen for it (UUIDv7).
        conflict_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// What it is about.
        kind: ConflictKind,
        /// What happened.
        description: Detail,
        /// The agents involved (1 to 20).
        agent_ids: Vec<Uuid>,
        /// The file, for code conflicts.
        file_path: Option<String>,
        /// Who reports it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Settle it.
    Resolve {
        /// How.
        strategy: Strategy,
        /// What was decided.
        resolution: Detail,
        /// The model that decided, for arbitrated conflicts.
        resolved_by_model: Option<ModelName>,
        /// Who records it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Hand it to a person.
    Escalate {
        /// Why.
        reason: Detail,
        /// Who escalates.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Record one attempt of the arbitrator chain.
    RecordArbitrationAttempt {
        /// The arbitrator: `rules`, or the model asked.
        model: String,
        /// How it ended.
        outcome: ArbitrationOutcome,
        /// What it said, or why it failed.
        detail: Detail,
        /// How long it took.
        latency_ms: u64,
        /// Tokens it read.
        input_tokens: u64,
        /// Tokens it wrote.
        output_tokens: u64,
        /// What it cost (charged to the project as usage).
        cost_usd: rust_decimal::Decimal,
        /// Who asked for the arbitration.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
}
