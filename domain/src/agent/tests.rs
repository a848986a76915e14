//! Given/when/then tests of the Agent aggregate.

use cqrs_es::test::TestFramework;

use super::*;
use crate::pricing::ModelName;
use crate::project::{Role, Stage};
use crate::shared::text::{Detail, Label};

const AGENT: Uuid = Uuid::from_u128(1);
const PROJECT: Uuid = Uuid::from_u128(2);
const TASK: Uuid = Uuid::from_u128(3);

fn access(role: Role) -> ProjectAccess {
    ProjectAccess {
        role: Some(role),
        project_archived: false,
    }
}

fn registered() -> AgentEvent {
    AgentEvent::AgentRegistered {
        agent_id: AGENT,
        project_id: PROJECT,
        name: "Ada".into(),
        kind: "developer".into(),
        stage: Some(Stage::Api),
        model: "claude-sonnet".into(),
    }
}

fn assigned() -> AgentEvent {
    AgentEvent::TaskAssigned {
        task_id: TASK,
        title: "Write the API".into(),
        description: String::new(),
        stage: None,
    }
}

fn complete(role: Role) -> AgentCommand {
    AgentCommand::CompleteTask {
        task_id: TASK,
        outcome: TaskOutcome::Succeeded,
        detail: Detail::default(),
        access: access(role),
    }
}

#[test]
fn a_member_registers_an_agent() {
    TestFramework::<Agent>::with(())
        .given_no_previous_events()
        .when(AgentCommand::Register {
            agent_id: AGENT,
            project_id: PROJECT,
            name: Label::parse("name", "Ada").expect("name"),
            kind: Label::parse("kind", "developer").expect("kind"),
            stage: Some(Stage::Api),
            model: ModelName::parse("claude-sonnet").expect("model"),
            access: access(Role::Member),
        })
        .then_expect_events(vec![registered()]);
}

#[test]
fn a_status_change_records_where_it_came_from() {
    TestFramework::<Agent>::with(())
        .given(vec![registered()])
        .when(AgentCommand::ChangeStatus {
            status: AgentStatus::Working,
            detail: Detail::parse("detail", "on it").expect("detail"),
            access: access(Role::Admin),
        })
        .then_expect_events(vec![AgentEvent::AgentStatusChanged {
            from: AgentStatus::Idle,
            to: AgentStatus::Working,
            detail: "on it".into(),
        }]);
}

#[test]
fn an_open_task_completes_once() {
    TestFramework::<Agent>::with(())
        .given(vec![registered(), assigned()])
        .when(complete(Role::Member))
        .then_expect_events(vec![AgentEvent::TaskCompleted {
            task_id: TASK,
            outcome: TaskOutcome::Succeeded,
            detail: String::new(),
        }]);
    TestFramework::<Agent>::with(())
        .given(vec![
            registered(),
            assigned(),
            AgentEvent::TaskCompleted {
                task_id: TASK,
                outcome: TaskOutcome::Failed,
                detail: String::new(),
            },
        ])
        .when(complete(Role::Member))
        .then_expect_error(AgentError::TaskNotOpen);
}

#[test]
fn viewers_and_outsiders_cannot_direct_an_agent() {
    TestFramework::<Agent>::with(())
        .given(vec![registered(), assigned()])
        .when(complete(Role::Viewer))
        .then_expect_error(AgentError::NotAllowed);
    TestFramework::<Agent>::with(())
        .given(vec![registered()])
        .when(AgentCommand::ChangeStatus {
            status: AgentStatus::Offline,
            detail: Detail::default(),
            access: ProjectAccess {
                role: None,
                project_archived: false,
            },
        })
        .then_expect_error(AgentError::NotFound);
}

#[test]
fn statuses_and_outcomes_parse_by_name() {
    assert_eq!("blocked".parse::<AgentStatus>(), Ok(AgentStatus::Blocked));
    assert!("sleeping".parse::<AgentStatus>().is_err());
    assert_eq!("failed".parse::<TaskOutcome>(), Ok(TaskOutcome::Failed));
    assert!(Label::parse("name", " ").is_err());
    assert!(Detail::parse("detail", &"x".repeat(10_001)).is_err());
}

#[test]
fn registering_an_agent_twice_is_refused() {
    TestFramework::<Agent>::with(())
        .given(vec![registered()])
        .when(AgentCommand::Register {
            agent_id: AGENT,
            project_id: PROJECT,
            name: Label::parse("name", "Ada").expect("name"),
            kind: Label::parse("kind", "developer").expect("kind"),
            stage: None,
            model: ModelName::parse("claude-sonnet").expect("model"),
            access: access(Role::Member),
        })
        .then_expect_error(AgentError::AlreadyExists);
}

#[test]
fn an_archived_project_directs_no_agent() {
    TestFramework::<Agent>::with(())
        .given(vec![registered()])
        .when(AgentCommand::ChangeStatus {
            status: AgentStatus::Working,
            detail: Detail::default(),
            access: ProjectAccess {
                role: Some(Role::Owner),
                project_archived: true,
            },
        })
        .then_expect_error(AgentError::ProjectArchived);
}

#[test]
fn a_model_switch_is_recorded_once_and_switching_back_is_a_switch_too() {
    let switch = |model: &str| AgentCommand::SwitchModel {
        task_id: TASK,
        model: model.into(),
        budget_remaining_usd: Some(rust_decimal::Decimal::ONE),
    };
    let switched = AgentEvent::ModelSwitched {
        agent_id: AGENT,
        from: "claude-sonnet".into(),
        to: "gemini-pro".into(),
        task_id: TASK,
        budget_remaining_usd: Some(rust_decimal::Decimal::ONE),
    };
    TestFramework::<Agent>::with(())
        .given(vec![registered()])
        .when(switch("gemini-pro"))
        .then_expect_events(vec![switched.clone()]);
    TestFramework::<Agent>::with(())
        .given(vec![registered(), switched.clone()])
        .when(switch("gemini-pro"))
        .then_expect_events(vec![]);
    TestFramework::<Agent>::with(())
        .given(vec![registered(), switched])
        .when(switch("claude-sonnet"))
        .then_expect_events(vec![AgentEvent::ModelSwitched {
            agent_id: AGENT,
            from: "gemini-pro".into(),
            to: "claude-sonnet".into(),
            task_id: TASK,
            budget_remaining_usd: Some(rust_decimal::Decimal::ONE),
        }]);
}
