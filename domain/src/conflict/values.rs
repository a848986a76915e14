//! Closed sets of values of the Conflict aggregate.

use serde::{Deserialize, Serialize};

/// What the agents disagree about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ConflictKind {
    /// The same code.
    Code,
    /// A design decision.
    Design,
    /// A requirement.
    Requirement,
    /// A shared resource.
    Resource,
}

/// How a conflict was settled.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Strategy {
    /// An arbitrator model decided.
    Arbitrator,
    /// A person decided.
    Manual,
    /// The first writer's version stands.
    FirstWriter,
    /// The last writer's version stands.
    LastWriter,
}

/// How one arbitration attempt ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ArbitrationOutcome {
    /// The arbitrator settled the conflict.
    Resolved,
    /// It answered that a person must decide.
    Declined,
    /// It failed: timed out, errored, or gave an answer that did not validate.
    Failed,
}

crate::named::named!(ConflictKind => "kind", Strategy => "strategy", ArbitrationOutcome => "outcome");

impl Strategy {
    /// Whether no person was needed (counts towards the auto-resolution rate).
    pub fn is_automatic(self) -> bool {
        !matches!(self, Strategy::Manual)
    }
}
