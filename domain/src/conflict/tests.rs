//! Given/when/then tests of the Conflict aggregate.

use cqrs_es::test::TestFramework;

use super::*;
use crate::pricing::ModelName;
use crate::project::Role;
use crate::shared::text::Detail;

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

#[test]
fn reporting_a_conflict_twice_is_refused() {
    TestFramework::<Conflict>::with(())
        .given(vec![reported()])
        .when(ConflictCommand::Report {
            conflict_id: CONFLICT,
            project_id: PROJECT,
            kind: ConflictKind::Code,
            description: Detail::parse("description", "again").expect("text"),
            agent_ids: vec![Uuid::from_u128(7)],
            file_path: None,
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_error(ConflictError::AlreadyExists);
}

#[test]
fn a_conflict_never_reported_is_not_found_and_neither_is_one_of_a_strangers_project() {
    TestFramework::<Conflict>::with(())
        .given_no_previous_events()
        .when(resolve())
        .then_expect_error(ConflictError::NotFound);
    let mut stranger = resolve();
    if let ConflictCommand::Resolve { access, .. } = &mut stranger {
        *access = ProjectAccess {
            role: None,
            project_archived: false,
        };
    }
    TestFramework::<Conflict>::with(())
        .given(vec![reported()])
        .when(stranger)
        .then_expect_error(ConflictError::NotFound);
}
