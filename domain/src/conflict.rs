//! The Conflict aggregate: agents disagreeing (over code, a design, a
//! requirement, a resource) and how it ended — resolved by an arbitrator
//! model, a person or a rule, or escalated to a person.

use std::str::FromStr;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::Detail;
use crate::error::{ErrorKind, FieldError, Refusal};
use crate::pricing::ModelName;
use crate::shared::access::{AccessRefusal, ProjectAccess};

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $crate::named::Named for $name {
            const ALL: &'static [Self] = $name::ALL;

            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl FromStr for $name {
            type Err = FieldError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(FieldError::new($field, concat!("one of: ", $($text, " "),+))),
                }
            }
        }
    };
}

named_enum!(
    /// What the agents disagree about.
    ConflictKind, "kind" {
        /// The same code.
        Code => "code",
        /// A design decision.
        Design => "design",
        /// A requirement.
        Requirement => "requirement",
        /// A shared resource.
        Resource => "resource",
    }
);

named_enum!(
    /// How a conflict was settled.
    Strategy, "strategy" {
        /// An arbitrator model decided.
        Arbitrator => "arbitrator",
        /// A person decided.
        Manual => "manual",
        /// The first writer's version stands.
        FirstWriter => "first_writer",
        /// The last writer's version stands.
        LastWriter => "last_writer",
    }
);

named_enum!(
    /// How one arbitration attempt ended.
    ArbitrationOutcome, "outcome" {
        /// The arbitrator settled the conflict.
        Resolved => "resolved",
        /// It answered that a person must decide.
        Declined => "declined",
        /// It failed: timed out, errored, or gave an answer that did not validate.
        Failed => "failed",
    }
);

impl Strategy {
    /// Whether no person was needed (counts towards the auto-resolution rate).
    pub fn is_automatic(self) -> bool {
        !matches!(self, Strategy::Manual)
    }
}

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

/// Why a conflict refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConflictError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The conflict id is taken.
    #[error("a conflict with this id already exists")]
    AlreadyExists,
    /// No such conflict, or the actor is not in its project.
    #[error("conflict not found")]
    NotFound,
    /// Viewers only read.
    #[error("viewers cannot report or settle conflicts")]
    NotAllowed,
    /// It was already resolved.
    #[error("the conflict is already resolved")]
    AlreadyResolved,
    /// The project is archived: it takes no new conflicts and settles none.
    #[error("the project is archived")]
    ProjectArchived,
}

impl Refusal for ConflictError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConflictError::Invalid(_) => ErrorKind::Invalid,
            ConflictError::NotFound => ErrorKind::NotFound,
            ConflictError::NotAllowed => ErrorKind::Forbidden,
            ConflictError::AlreadyExists
            | ConflictError::AlreadyResolved
            | ConflictError::ProjectArchived => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ConflictError::Invalid(e) => vec![e.clone()],
            _ => vec![],
        }
    }
}

/// What a conflict's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Set by `ConflictReported`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// Whether it was resolved.
    pub resolved: bool,
    /// Whether it was escalated.
    pub escalated: bool,
}

/// The shared writer rule ([`ProjectAccess::require_writer`]), refused in
/// this aggregate's words. An archived project takes no new conflicts and
/// settles none, as it takes nothing else.
fn require_writer(access: ProjectAccess) -> Result<(), ConflictError> {
    access.require_writer().map(|_| ()).map_err(ConflictError::from)
}

impl From<AccessRefusal> for ConflictError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => ConflictError::NotFound,
            AccessRefusal::Viewer => ConflictError::NotAllowed,
            AccessRefusal::Archived => ConflictError::ProjectArchived,
        }
    }
}

impl Aggregate for Conflict {
    const TYPE: &'static str = "Conflict";
    type Command = ConflictCommand;
    type Event = ConflictEvent;
    type Error = ConflictError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            ConflictEvent::ConflictReported {
                conflict_id,
                project_id,
                ..
            } => {
                self.id = Some(conflict_id);
                self.project_id = Some(project_id);
            }
            ConflictEvent::ConflictResolved { .. } => self.resolved = true,
            ConflictEvent::ConflictEscalated { .. } => self.escalated = true,
            ConflictEvent::ArbitrationAttempted { .. } => {}
        }
    }
}

impl Conflict {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`ConflictError`] naming the rule the command breaks.
    pub fn decide(&self, command: ConflictCommand) -> Result<Vec<ConflictEvent>, ConflictError> {
        if self.id.is_none() && !matches!(command, ConflictCommand::Report { .. }) {
            return Err(ConflictError::NotFound);
        }
        match command {
            ConflictCommand::Report {
                conflict_id,
                project_id,
                kind,
                description,
                agent_ids,
                file_path,
                actor,
                access,
            } => {
                if self.id.is_some() {
                    return Err(ConflictError::AlreadyExists);
                }
                require_writer(access)?;
                if agent_ids.is_empty() || agent_ids.len() > 20 {
                    return Err(FieldError::new("agent_ids", "must name 1 to 20 agents").into());
                }
                if description.as_str().trim().is_empty() {
                    return Err(FieldError::new("description", "must not be empty").into());
                }
                Ok(vec![ConflictEvent::ConflictReported {
                    conflict_id,
                    project_id,
                    kind,
                    description: description.as_str().to_owned(),
                    agent_ids,
                    file_path,
                    reported_by: actor,
                }])
            }
            ConflictCommand::Resolve {
                strategy,
                resolution,
                resolved_by_model,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                if resolution.as_str().trim().is_empty() {
                    return Err(FieldError::new("resolution", "must not be empty").into());
                }
                Ok(vec![ConflictEvent::ConflictResolved {
                    strategy,
                    resolution: resolution.as_str().to_owned(),
                    resolved_by_model: resolved_by_model.map(|m| m.as_str().to_owned()),
                    resolved_by: actor,
                }])
            }
            ConflictCommand::Escalate {
                reason,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                if self.escalated {
                    return Ok(vec![]);
                }
                Ok(vec![ConflictEvent::ConflictEscalated {
                    reason: reason.as_str().to_owned(),
                    escalated_by: actor,
                }])
            }
            ConflictCommand::RecordArbitrationAttempt {
                model,
                outcome,
                detail,
                latency_ms,
                input_tokens,
                output_tokens,
                cost_usd,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                Ok(vec![ConflictEvent::ArbitrationAttempted {
                    model,
                    outcome,
                    detail: detail.as_str().to_owned(),
                    latency_ms,
                    input_tokens,
                    output_tokens,
                    cost_usd,
                    requested_by: actor,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::project::Role;

    const CONFLICT: Uuid = Uuid::from_u128(1);
    const PROJECT: Uuid = Uuid::from_u128(2);
    const ACTOR: Uuid = Uuid::from_u128(3);
    const MEMBER: ProjectAccess = ProjectAccess {
        role: Some(Role::Member),
        project_archived: false,
    };
    const MEMBER_OF_ARCHIVED: ProjectAccess = ProjectAccess {
        role: Some(Role::Member),
        project_archived: true,
    };

    fn reported() -> ConflictEvent {
        ConflictEvent::ConflictReported {
            conflict_id: CONFLICT,
            project_id: PROJECT,
            kind: ConflictKind::Code,
            description: "both edited main.rs".into(),
            agent_ids: vec![Uuid::from_u128(7), Uuid::from_u128(8)],
            file_path: Some("src/main.rs".into()),
            reported_by: ACTOR,
        }
    }

    fn resolve() -> ConflictCommand {
        ConflictCommand::Resolve {
            strategy: Strategy::Arbitrator,
            resolution: Detail::parse("resolution", "keep the newer parser").expect("text"),
            resolved_by_model: Some(ModelName::parse("claude-sonnet").expect("model")),
            actor: ACTOR,
            access: MEMBER,
        }
    }

    #[test]
    fn a_reported_conflict_is_resolved_by_the_arbitrator() {
        TestFramework::<Conflict>::with(())
            .given(vec![reported()])
            .when(resolve())
            .then_expect_events(vec![ConflictEvent::ConflictResolved {
                strategy: Strategy::Arbitrator,
                resolution: "keep the newer parser".into(),
                resolved_by_model: Some("claude-sonnet".into()),
                resolved_by: ACTOR,
            }]);
    }

    #[test]
    fn resolving_twice_is_refused() {
        TestFramework::<Conflict>::with(())
            .given(vec![
                reported(),
                ConflictEvent::ConflictResolved {
                    strategy: Strategy::Manual,
                    resolution: "done".into(),
                    resolved_by_model: None,
                    resolved_by: ACTOR,
                },
            ])
            .when(resolve())
            .then_expect_error(ConflictError::AlreadyResolved);
    }

    #[test]
    fn an_escalated_conflict_can_still_be_resolved_by_a_person() {
        TestFramework::<Conflict>::with(())
            .given(vec![
                reported(),
                ConflictEvent::ConflictEscalated {
                    reason: "models disagree".into(),
                    escalated_by: ACTOR,
                },
            ])
            .when(resolve())
            .then_expect_events(vec![ConflictEvent::ConflictResolved {
                strategy: Strategy::Arbitrator,
                resolution: "keep the newer parser".into(),
                resolved_by_model: Some("claude-sonnet".into()),
                resolved_by: ACTOR,
            }]);
    }

    #[test]
    fn an_archived_project_takes_no_new_conflict_and_settles_none() {
        TestFramework::<Conflict>::with(())
            .given_no_previous_events()
            .when(ConflictCommand::Report {
                conflict_id: CONFLICT,
                project_id: PROJECT,
                kind: ConflictKind::Code,
                description: Detail::parse("description", "x").expect("text"),
                agent_ids: vec![Uuid::from_u128(9)],
                file_path: None,
                actor: ACTOR,
                access: MEMBER_OF_ARCHIVED,
            })
            .then_expect_error(ConflictError::ProjectArchived);
        let mut settle = resolve();
        if let ConflictCommand::Resolve { access, .. } = &mut settle {
            *access = MEMBER_OF_ARCHIVED;
        }
        TestFramework::<Conflict>::with(())
            .given(vec![reported()])
            .when(settle)
            .then_expect_error(ConflictError::ProjectArchived);
    }

    #[test]
    fn a_viewer_reports_nothing() {
        TestFramework::<Conflict>::with(())
            .given_no_previous_events()
            .when(ConflictCommand::Report {
                conflict_id: CONFLICT,
                project_id: PROJECT,
                kind: ConflictKind::Code,
                description: Detail::parse("description", "x").expect("text"),
                agent_ids: vec![Uuid::from_u128(9)],
                file_path: None,
                actor: ACTOR,
                access: ProjectAccess {
                    role: Some(Role::Viewer),
                    project_archived: false,
                },
            })
            .then_expect_error(ConflictError::NotAllowed);
    }

    #[test]
    fn a_conflict_needs_agents() {
        TestFramework::<Conflict>::with(())
            .given_no_previous_events()
            .when(ConflictCommand::Report {
                conflict_id: CONFLICT,
                project_id: PROJECT,
                kind: ConflictKind::Design,
                description: Detail::parse("description", "x").expect("text"),
                agent_ids: vec![],
                file_path: None,
                actor: ACTOR,
                access: MEMBER,
            })
            .then_expect_error(ConflictError::Invalid(FieldError::new(
                "agent_ids",
                "must name 1 to 20 agents",
            )));
    }

    #[test]
    fn kinds_and_strategies_parse_by_name() {
        assert_eq!("last_writer".parse::<Strategy>(), Ok(Strategy::LastWriter));
        assert!("coin_flip".parse::<Strategy>().is_err());
        assert_eq!("resource".parse::<ConflictKind>(), Ok(ConflictKind::Resource));
        assert!(Strategy::Arbitrator.is_automatic() && !Strategy::Manual.is_automatic());
    }
}
