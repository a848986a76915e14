//! Given/when/then tests of the Task aggregate.

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;

use super::*;
use crate::project::Role;
use crate::shared::access::ProjectAccess;
use crate::shared::text::Detail;

const TASK: Uuid = Uuid::from_u128(1);
const RUN: Uuid = Uuid::from_u128(2);
const PROJECT: Uuid = Uuid::from_u128(3);
const AGENT: Uuid = Uuid::from_u128(4);
const STRANGER_AGENT: Uuid = Uuid::from_u128(5);

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).single().expect("a time") + Duration::seconds(seconds)
}

fn member(project_archived: bool) -> ProjectAccess {
    ProjectAccess {
        role: Some(Role::Member),
        project_archived,
    }
}

fn opened() -> TaskEvent {
    TaskEvent::TaskOpened {
        task_id: TASK,
        execution_id: RUN,
        project_id: PROJECT,
        agent_id: AGENT,
        stage: Stage::Api,
        model: "gemini-pro".into(),
    }
}

fn claimed(lease_until: i64, attempt: u32) -> TaskEvent {
    TaskEvent::TaskClaimed {
        agent_id: AGENT,
        lease_until: at(lease_until),
        attempt,
    }
}

fn claim(now: i64, lease_until: i64) -> TaskCommand {
    TaskCommand::Claim {
        agent_id: AGENT,
        now: at(now),
        lease_until: at(lease_until),
    }
}

fn finish(outcome: TaskOutcome, access: ProjectAccess) -> TaskCommand {
    TaskCommand::Finish {
        agent_id: AGENT,
        outcome,
        detail: Detail::parse("detail", "done").expect("text"),
        access,
    }
}

fn framework() -> TestFramework<Task> {
    TestFramework::<Task>::with(())
}

#[test]
fn a_task_is_created_once() {
    let create = TaskCommand::Create {
        task_id: TASK,
        execution_id: RUN,
        project_id: PROJECT,
        agent_id: AGENT,
        stage: Stage::Api,
        model: "gemini-pro".into(),
    };
    framework()
        .given_no_previous_events()
        .when(create.clone())
        .then_expect_events(vec![opened()]);
    framework()
        .given(vec![opened()])
        .when(create)
        .then_expect_error(TaskError::AlreadyExists);
}

#[test]
fn an_open_task_is_claimed_by_its_agent_only() {
    framework()
        .given(vec![opened()])
        .when(claim(0, 30))
        .then_expect_events(vec![claimed(30, 1)]);
    framework()
        .given(vec![opened()])
        .when(TaskCommand::Claim {
            agent_id: STRANGER_AGENT,
            now: at(0),
            lease_until: at(30),
        })
        .then_expect_error(TaskError::NotFound);
}

#[test]
fn a_live_lease_keeps_others_out_and_an_ended_one_lapses_into_a_new_claim() {
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(claim(10, 40))
        .then_expect_error(TaskError::Claimed);
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(claim(31, 61))
        .then_expect_events(vec![
            TaskEvent::TaskLeaseLapsed {
                lease_until: at(30),
                lapses: 1,
            },
            claimed(61, 2),
        ]);
}

#[test]
fn the_third_lapse_fails_the_task() {
    let lapsed = |n: u32, until: i64| TaskEvent::TaskLeaseLapsed {
        lease_until: at(until),
        lapses: n,
    };
    framework()
        .given(vec![
            opened(),
            claimed(30, 1),
            lapsed(1, 30),
            claimed(60, 2),
            lapsed(2, 60),
            claimed(90, 3),
        ])
        .when(TaskCommand::Lapse {
            lease_until: at(90),
            now: at(91),
        })
        .then_expect_events(vec![
            lapsed(3, 90),
            TaskEvent::TaskFinished {
                outcome: TaskOutcome::Failed,
                detail: "the lease lapsed 3 times without a heartbeat".into(),
            },
        ]);
}

#[test]
fn a_lapse_of_a_lease_extended_since_changes_nothing() {
    framework()
        .given(vec![
            opened(),
            claimed(30, 1),
            TaskEvent::TaskLeaseExtended { lease_until: at(60) },
        ])
        .when(TaskCommand::Lapse {
            lease_until: at(30),
            now: at(31),
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_heartbeat_extends_a_held_lease_and_is_refused_once_it_is_lost() {
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(TaskCommand::Heartbeat {
            agent_id: AGENT,
            now: at(20),
            lease_until: at(50),
        })
        .then_expect_events(vec![TaskEvent::TaskLeaseExtended { lease_until: at(50) }]);
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(TaskCommand::Heartbeat {
            agent_id: AGENT,
            now: at(31),
            lease_until: at(61),
        })
        .then_expect_error(TaskError::LeaseLost);
}

#[test]
fn the_agent_finishes_its_task_once() {
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(finish(TaskOutcome::Succeeded, member(false)))
        .then_expect_events(vec![TaskEvent::TaskFinished {
            outcome: TaskOutcome::Succeeded,
            detail: "done".into(),
        }]);
    framework()
        .given(vec![
            opened(),
            TaskEvent::TaskFinished {
                outcome: TaskOutcome::Succeeded,
                detail: "done".into(),
            },
        ])
        .when(finish(TaskOutcome::Succeeded, member(false)))
        .then_expect_error(TaskError::Finished {
            state: TaskState::Succeeded,
        });
}

#[test]
fn viewers_and_archived_projects_finish_nothing() {
    framework()
        .given(vec![opened()])
        .when(finish(
            TaskOutcome::Succeeded,
            ProjectAccess {
                role: Some(Role::Viewer),
                project_archived: false,
            },
        ))
        .then_expect_error(TaskError::NotAllowed);
    framework()
        .given(vec![opened()])
        .when(finish(TaskOutcome::Succeeded, member(true)))
        .then_expect_error(TaskError::ProjectArchived);
}

#[test]
fn a_failed_task_is_reopened_by_a_retry_and_a_cancel_ends_an_open_one() {
    let failed = TaskEvent::TaskFinished {
        outcome: TaskOutcome::Failed,
        detail: "no".into(),
    };
    framework()
        .given(vec![opened(), failed])
        .when(TaskCommand::Retry)
        .then_expect_events(vec![TaskEvent::TaskReopened {}]);
    framework()
        .given(vec![opened()])
        .when(TaskCommand::Retry)
        .then_expect_events(vec![]);
    framework()
        .given(vec![opened(), claimed(30, 1)])
        .when(TaskCommand::Cancel)
        .then_expect_events(vec![TaskEvent::TaskCancelled {}]);
}
