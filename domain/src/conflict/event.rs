//! Events of the Conflict aggregate. Names and fields are a persisted contract.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{ArbitrationOutcome, ConflictKind, Strategy};

/// Something that happened to a conflict. A persisted contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConflictEvent {
    /// A conflict was reported.
    ConflictReported {
        /// Its id.
        conflict_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// What it is about.
        kind: ConflictKind,
        /// What happened.
        description: String,
        /// The agents involved.
        agent_ids: Vec<Uuid>,
        /// The file, if any.
        file_path: Option<String>,
        /// Who reported it.
        reported_by: Uuid,
    },
    /// It was settled.
    ConflictResolved {
        /// How.
        strategy: Strategy,
        /// What was decided.
        resolution: String,
        /// The model that decided, if one did.
        resolved_by_model: Option<String>,
        /// Who recorded it.
        resolved_by: Uuid,
    },
    /// It was handed to a person.
    ConflictEscalated {
        /// Why.
        reason: String,
        /// Who escalated it.
        escalated_by: Uuid,
    },
    /// An arbitrator of the chain was asked to settle it.
    ArbitrationAttempted {
        /// The arbitrator: `rules`, or the model asked.
        model: String,
        /// How it ended.
        outcome: ArbitrationOutcome,
        /// What it said, or why it failed.
        detail: String,
        /// How long it took, in milliseconds.
        latency_ms: u64,
        /// Tokens it read.
        input_tokens: u64,
        /// Tokens it wrote.
        output_tokens: u64,
        /// What it cost (charged to the project as usage).
        cost_usd: rust_decimal::Decimal,
        /// Who asked for the arbitration.
        requested_by: Uuid,
    },
}

impl DomainEvent for ConflictEvent {
    fn event_type(&self) -> String {
        match self {
            ConflictEvent::ConflictReported { .. } => "ConflictReported",
            ConflictEvent::ConflictResolved { .. } => "ConflictResolved",
            ConflictEvent::ConflictEscalated { .. } => "ConflictEscalated",
            ConflictEvent::ArbitrationAttempted { .. } => "ArbitrationAttempted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
