//! Given/when/then tests of every branch of the Project aggregate.

use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;

type ProjectTest = TestFramework<Project>;

const PROJECT: Uuid = Uuid::from_u128(1);
const OWNER: Uuid = Uuid::from_u128(10);
const ADMIN: Uuid = Uuid::from_u128(11);
const MEMBER: Uuid = Uuid::from_u128(12);
const STRANGER: Uuid = Uuid::from_u128(13);

fn name(s: &str) -> ProjectName {
    ProjectName::parse(s).expect("valid name in test")
}

fn created() -> ProjectEvent {
    ProjectEvent::ProjectCreated {
        project_id: PROJECT,
        name: "Apollo".into(),
        description: String::new(),
        budget_usd: None,
        owner_id: OWNER,
        stage: Stage::Requirements,
    }
}

fn with_team() -> Vec<ProjectEvent> {
    vec![
        created(),
        ProjectEvent::ProjectMemberAdded {
            user_id: ADMIN,
            role: Role::Admin,
        },
        ProjectEvent::ProjectMemberAdded {
            user_id: MEMBER,
            role: Role::Member,
        },
    ]
}

#[test]
fn creating_a_project_starts_it_at_requirements_owned_by_its_creator() {
    ProjectTest::with(())
        .given_no_previous_events()
        .when(ProjectCommand::Create {
            project_id: PROJECT,
            name: name("Apollo"),
            description: Description::default(),
            budget: Some(Budget::parse("100.50").expect("valid budget")),
            owner_id: OWNER,
        })
        .then_expect_events(vec![ProjectEvent::ProjectCreated {
            project_id: PROJECT,
            name: "Apollo".into(),
            description: String::new(),
            budget_usd: Some(Decimal::new(10050, 2)),
            owner_id: OWNER,
            stage: Stage::Requirements,
        }]);
}

#[test]
fn creating_an_existing_project_is_rejected() {
    ProjectTest::with(())
        .given(vec![created()])
        .when(ProjectCommand::Create {
            project_id: PROJECT,
            name: name("Again"),
            description: Description::default(),
            budget: None,
            owner_id: OWNER,
        })
        .then_expect_error(ProjectError::AlreadyExists);
}

#[test]
fn updating_records_the_resulting_values() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Update {
            actor: ADMIN,
            name: Some(name("Artemis")),
            description: None,
            budget: Some(Some(Budget::parse("5").expect("valid budget"))),
        })
        .then_expect_events(vec![ProjectEvent::ProjectUpdated {
            name: "Artemis".into(),
            description: String::new(),
            budget_usd: Some(Decimal::from(5)),
        }]);
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Update {
            actor: OWNER,
            name: Some(name("Apollo")),
            description: None,
            budget: None,
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_plain_member_cannot_update_the_project() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Update {
            actor: MEMBER,
            name: Some(name("Mine")),
            description: None,
            budget: None,
        })
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Member,
            needs: "owner or admin",
        });
}

#[test]
fn a_stranger_is_told_the_project_does_not_exist() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Archive { actor: STRANGER })
        .then_expect_error(ProjectError::NotFound);
}

#[test]
fn commands_on_a_project_that_was_never_created_are_not_found() {
    ProjectTest::with(())
        .given_no_previous_events()
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::Architecture,
        })
        .then_expect_error(ProjectError::NotFound);
}

#[test]
fn only_the_owner_can_archive() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Archive { actor: ADMIN })
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Admin,
            needs: "owner",
        });
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::Archive { actor: OWNER })
        .then_expect_events(vec![ProjectEvent::ProjectArchived {}]);
}

#[test]
fn archiving_an_archived_project_is_rejected() {
    ProjectTest::with(())
        .given(vec![created(), ProjectEvent::ProjectArchived {}])
        .when(ProjectCommand::Archive { actor: OWNER })
        .then_expect_error(ProjectError::Archived);
}

#[test]
fn an_archived_project_cannot_change() {
    ProjectTest::with(())
        .given(vec![created(), ProjectEvent::ProjectArchived {}])
        .when(ProjectCommand::Update {
            actor: OWNER,
            name: Some(name("Zombie")),
            description: None,
            budget: None,
        })
        .then_expect_error(ProjectError::Archived);
}

#[test]
fn advancing_to_the_next_stage_is_recorded() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::Architecture,
        })
        .then_expect_events(vec![ProjectEvent::ProjectStageAdvanced {
            from: Stage::Requirements,
            to: Stage::Architecture,
        }]);
}

#[test]
fn skipping_a_stage_is_rejected() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::Database,
        })
        .then_expect_error(ProjectError::StageOutOfOrder {
            current: Stage::Requirements,
            requested: Stage::Database,
            expected: Some(Stage::Architecture),
        });
}

#[test]
fn going_back_a_stage_is_rejected() {
    ProjectTest::with(())
        .given(with_team())
        .and(vec![ProjectEvent::ProjectStageAdvanced {
            from: Stage::Requirements,
            to: Stage::Architecture,
        }])
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::Requirements,
        })
        .then_expect_error(ProjectError::StageOutOfOrder {
            current: Stage::Architecture,
            requested: Stage::Requirements,
            expected: Some(Stage::Database),
        });
}

#[test]
fn nothing_follows_the_last_stage() {
    let mut history = vec![created()];
    let mut stage = Stage::Requirements;
    while let Some(next) = stage.next() {
        history.push(ProjectEvent::ProjectStageAdvanced {
            from: stage,
            to: next,
        });
        stage = next;
    }
    ProjectTest::with(())
        .given(history)
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::QualityAssurance,
        })
        .then_expect_error(ProjectError::StageOutOfOrder {
            current: Stage::QualityAssurance,
            requested: Stage::QualityAssurance,
            expected: None,
        });
}

#[test]
fn a_viewer_cannot_advance_the_stage() {
    ProjectTest::with(())
        .given(with_team())
        .and(vec![ProjectEvent::ProjectMemberAdded {
            user_id: STRANGER,
            role: Role::Viewer,
        }])
        .when(ProjectCommand::AdvanceStage {
            actor: STRANGER,
            stage: Stage::Architecture,
        })
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Viewer,
            needs: "owner or admin",
        });
}

#[test]
fn an_admin_adds_a_member() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AddMember {
            actor: ADMIN,
            user_id: STRANGER,
            role: Role::Viewer,
        })
        .then_expect_events(vec![ProjectEvent::ProjectMemberAdded {
            user_id: STRANGER,
            role: Role::Viewer,
        }]);
}

#[test]
fn adding_a_member_again_with_another_role_changes_the_role() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AddMember {
            actor: OWNER,
            user_id: MEMBER,
            role: Role::Admin,
        })
        .then_expect_events(vec![ProjectEvent::ProjectMemberRoleChanged {
            user_id: MEMBER,
            role: Role::Admin,
        }]);
}

#[test]
fn adding_a_member_with_the_role_they_have_records_nothing() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AddMember {
            actor: OWNER,
            user_id: MEMBER,
            role: Role::Member,
        })
        .then_expect_events(vec![]);
}

#[test]
fn an_admin_cannot_grant_ownership() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AddMember {
            actor: ADMIN,
            user_id: STRANGER,
            role: Role::Owner,
        })
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Admin,
            needs: "owner",
        });
}

#[test]
fn the_owner_cannot_be_demoted() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::AddMember {
            actor: OWNER,
            user_id: OWNER,
            role: Role::Viewer,
        })
        .then_expect_error(ProjectError::OwnerIsPermanent);
}

#[test]
fn removing_a_member_is_recorded() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::RemoveMember {
            actor: ADMIN,
            user_id: MEMBER,
        })
        .then_expect_events(vec![ProjectEvent::ProjectMemberRemoved { user_id: MEMBER }]);
}

#[test]
fn removing_the_owner_is_rejected() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::RemoveMember {
            actor: ADMIN,
            user_id: OWNER,
        })
        .then_expect_error(ProjectError::OwnerIsPermanent);
}

#[test]
fn removing_someone_who_is_not_a_member_is_rejected() {
    ProjectTest::with(())
        .given(with_team())
        .when(ProjectCommand::RemoveMember {
            actor: OWNER,
            user_id: STRANGER,
        })
        .then_expect_error(ProjectError::NotAMember);
}

#[test]
fn a_removed_member_no_longer_sees_the_project() {
    ProjectTest::with(())
        .given(with_team())
        .and(vec![ProjectEvent::ProjectMemberRemoved { user_id: ADMIN }])
        .when(ProjectCommand::AdvanceStage {
            actor: ADMIN,
            stage: Stage::Architecture,
        })
        .then_expect_error(ProjectError::NotFound);
}
