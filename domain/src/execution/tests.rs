//! Given/when/then tests of the Execution aggregate.

use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;

use super::*;
use crate::project::Role;

const RUN: Uuid = Uuid::from_u128(1);
const PROJECT: Uuid = Uuid::from_u128(2);
const OWNER: Uuid = Uuid::from_u128(3);
const AGENT_A: Uuid = Uuid::from_u128(4);
const AGENT_B: Uuid = Uuid::from_u128(5);
const CONFLICT: Uuid = Uuid::from_u128(6);

fn access(role: Role, project_archived: bool) -> ProjectAccess {
    ProjectAccess {
        role: Some(role),
        project_archived,
    }
}

fn started(stage: Stage) -> ExecutionEvent {
    ExecutionEvent::ExecutionStarted {
        execution_id: RUN,
        project_id: PROJECT,
        stage,
        started_by: OWNER,
        max_parallel_tasks: 4,
    }
}

fn planned(stage: Stage, agent: Uuid) -> PlannedTask {
    PlannedTask {
        task_id: PlannedTask::id_for(RUN, stage, agent),
        agent_id: agent,
        model: "claude-sonnet".into(),
    }
}

fn opened(stage: Stage) -> ExecutionEvent {
    ExecutionEvent::StageOpened {
        stage,
        tasks: vec![planned(stage, AGENT_A), planned(stage, AGENT_B)],
    }
}

fn settled(stage: Stage, agent: Uuid, outcome: TaskOutcome, settled: u32) -> ExecutionEvent {
    ExecutionEvent::TaskSettled {
        task_id: PlannedTask::id_for(RUN, stage, agent),
        agent_id: agent,
        stage,
        outcome,
        settled,
        total: 2,
        run_cost_usd: Decimal::ONE,
    }
}

fn settle(stage: Stage, agent: Uuid, outcome: TaskOutcome) -> ExecutionCommand {
    ExecutionCommand::SettleTask {
        task_id: PlannedTask::id_for(RUN, stage, agent),
        outcome,
        run_cost_usd: Decimal::ONE,
    }
}

fn framework() -> TestFramework<Execution> {
    TestFramework::<Execution>::with(())
}

#[test]
fn task_ids_are_the_same_for_the_same_run_stage_and_agent_and_differ_otherwise() {
    let id = PlannedTask::id_for(RUN, Stage::Api, AGENT_A);
    assert_eq!(id, PlannedTask::id_for(RUN, Stage::Api, AGENT_A));
    assert_ne!(id, PlannedTask::id_for(RUN, Stage::Database, AGENT_A));
    assert_ne!(id, PlannedTask::id_for(RUN, Stage::Api, AGENT_B));
    assert_ne!(id, PlannedTask::id_for(Uuid::from_u128(9), Stage::Api, AGENT_A));
}

#[test]
fn a_run_starts_once() {
    let start = ExecutionCommand::Start {
        execution_id: RUN,
        project_id: PROJECT,
        stage: Stage::Requirements,
        started_by: OWNER,
        max_parallel_tasks: 4,
    };
    framework()
        .given_no_previous_events()
        .when(start.clone())
        .then_expect_events(vec![started(Stage::Requirements)]);
    framework()
        .given(vec![started(Stage::Requirements)])
        .when(start)
        .then_expect_error(ExecutionError::AlreadyExists);
}

#[test]
fn commands_to_a_run_that_does_not_exist_are_refused() {
    framework()
        .given_no_previous_events()
        .when(ExecutionCommand::PauseForConflict {
            conflict_id: CONFLICT,
        })
        .then_expect_error(ExecutionError::NotFound);
}

#[test]
fn opening_the_current_stage_plans_its_tasks_and_opening_it_again_changes_nothing() {
    let open = ExecutionCommand::OpenStage {
        stage: Stage::Requirements,
        tasks: vec![
            planned(Stage::Requirements, AGENT_A),
            planned(Stage::Requirements, AGENT_B),
        ],
    };
    framework()
        .given(vec![started(Stage::Requirements)])
        .when(open.clone())
        .then_expect_events(vec![opened(Stage::Requirements)]);
    framework()
        .given(vec![started(Stage::Requirements), opened(Stage::Requirements)])
        .when(open)
        .then_expect_events(vec![]);
}

#[test]
fn a_stage_without_agents_completes_as_it_opens() {
    framework()
        .given(vec![started(Stage::Database)])
        .when(ExecutionCommand::OpenStage {
            stage: Stage::Database,
            tasks: vec![],
        })
        .then_expect_events(vec![
            ExecutionEvent::StageOpened {
                stage: Stage::Database,
                tasks: vec![],
            },
            ExecutionEvent::StageCompleted {
                stage: Stage::Database,
            },
        ]);
}

#[test]
fn a_stage_opens_only_in_order() {
    framework()
        .given(vec![started(Stage::Requirements), opened(Stage::Requirements)])
        .when(ExecutionCommand::OpenStage {
            stage: Stage::Architecture,
            tasks: vec![],
        })
        .then_expect_error(ExecutionError::StageOutOfOrder {
            current: Stage::Requirements,
            requested: Stage::Architecture,
        });
}

#[test]
fn the_last_success_of_a_stage_completes_it() {
    framework()
        .given(vec![
            started(Stage::Api),
            opened(Stage::Api),
            settled(Stage::Api, AGENT_A, TaskOutcome::Succeeded, 1),
        ])
        .when(settle(Stage::Api, AGENT_B, TaskOutcome::Succeeded))
        .then_expect_events(vec![
            settled(Stage::Api, AGENT_B, TaskOutcome::Succeeded, 2),
            ExecutionEvent::StageCompleted { stage: Stage::Api },
        ]);
}

#[test]
fn settling_twice_changes_nothing_and_an_unknown_task_is_refused() {
    framework()
        .given(vec![
            started(Stage::Api),
            opened(Stage::Api),
            settled(Stage::Api, AGENT_A, TaskOutcome::Succeeded, 1),
        ])
        .when(settle(Stage::Api, AGENT_A, TaskOutcome::Succeeded))
        .then_expect_events(vec![]);
    framework()
        .given(vec![started(Stage::Api), opened(Stage::Api)])
        .when(settle(Stage::Testing, AGENT_A, TaskOutcome::Succeeded))
        .then_expect_error(ExecutionError::UnknownTask);
}

#[test]
fn a_failed_task_pauses_the_run_and_a_resume_hands_it_out_again() {
    let task = PlannedTask::id_for(RUN, Stage::Api, AGENT_A);
    let failed = vec![
        started(Stage::Api),
        opened(Stage::Api),
        settled(Stage::Api, AGENT_A, TaskOutcome::Failed, 1),
        ExecutionEvent::ExecutionPaused {
            reason: PauseReason::TaskFailed { task_id: task },
        },
    ];
    framework()
        .given(vec![started(Stage::Api), opened(Stage::Api)])
        .when(settle(Stage::Api, AGENT_A, TaskOutcome::Failed))
        .then_expect_events(failed[2..].to_vec());
    framework()
        .given(failed)
        .when(ExecutionCommand::Resume {
            actor: OWNER,
            access: access(Role::Admin, false),
        })
        .then_expect_events(vec![ExecutionEvent::PauseLifted {
            reasons: vec![PauseReason::TaskFailed { task_id: task }],
            retry: vec![task],
            by: Some(OWNER),
        }]);
}

#[test]
fn a_paused_run_opens_no_stage_and_completes_nothing() {
    let paused = vec![
        started(Stage::QualityAssurance),
        ExecutionEvent::ExecutionPaused {
            reason: PauseReason::Manual { by: OWNER },
        },
    ];
    framework()
        .given(paused.clone())
        .when(ExecutionCommand::OpenStage {
            stage: Stage::QualityAssurance,
            tasks: vec![],
        })
        .then_expect_error(ExecutionError::Paused);
    framework()
        .given(paused)
        .when(ExecutionCommand::Complete {
            cost_usd: Decimal::ZERO,
        })
        .then_expect_error(ExecutionError::Paused);
}

#[test]
fn an_escalated_conflict_pauses_until_it_is_resolved() {
    let reason = PauseReason::ConflictEscalated {
        conflict_id: CONFLICT,
    };
    framework()
        .given(vec![started(Stage::Api)])
        .when(ExecutionCommand::PauseForConflict {
            conflict_id: CONFLICT,
        })
        .then_expect_events(vec![ExecutionEvent::ExecutionPaused { reason }]);
    framework()
        .given(vec![
            started(Stage::Api),
            ExecutionEvent::ExecutionPaused { reason },
        ])
        .when(ExecutionCommand::PauseForConflict {
            conflict_id: CONFLICT,
        })
        .then_expect_events(vec![]);
    framework()
        .given(vec![
            started(Stage::Api),
            ExecutionEvent::ExecutionPaused { reason },
        ])
        .when(ExecutionCommand::LiftConflictPause {
            conflict_id: CONFLICT,
        })
        .then_expect_events(vec![ExecutionEvent::PauseLifted {
            reasons: vec![reason],
            retry: vec![],
            by: None,
        }]);
}

#[test]
fn only_owners_and_admins_direct_a_run_of_a_live_project() {
    framework()
        .given(vec![started(Stage::Api)])
        .when(ExecutionCommand::Pause {
            actor: OWNER,
            access: access(Role::Member, false),
        })
        .then_expect_error(ExecutionError::NotAllowed);
    framework()
        .given(vec![started(Stage::Api)])
        .when(ExecutionCommand::Cancel {
            actor: OWNER,
            access: access(Role::Owner, true),
        })
        .then_expect_error(ExecutionError::ProjectArchived);
    framework()
        .given(vec![started(Stage::Api)])
        .when(ExecutionCommand::Cancel {
            actor: OWNER,
            access: ProjectAccess {
                role: None,
                project_archived: false,
            },
        })
        .then_expect_error(ExecutionError::NotFound);
}

#[test]
fn resuming_a_running_run_is_refused() {
    framework()
        .given(vec![started(Stage::Api)])
        .when(ExecutionCommand::Resume {
            actor: OWNER,
            access: access(Role::Owner, false),
        })
        .then_expect_error(ExecutionError::NotPaused);
}

#[test]
fn a_finished_run_takes_no_more_directions() {
    framework()
        .given(vec![
            started(Stage::Api),
            ExecutionEvent::ExecutionCancelled { by: OWNER },
        ])
        .when(ExecutionCommand::Pause {
            actor: OWNER,
            access: access(Role::Owner, false),
        })
        .then_expect_error(ExecutionError::Finished {
            status: ExecutionStatus::Cancelled,
        });
}

#[test]
fn the_run_completes_only_after_the_last_stage() {
    framework()
        .given(vec![
            started(Stage::Deployment),
            opened(Stage::Deployment),
            ExecutionEvent::StageCompleted {
                stage: Stage::Deployment,
            },
        ])
        .when(ExecutionCommand::Complete {
            cost_usd: Decimal::ONE,
        })
        .then_expect_error(ExecutionError::StagesRemain {
            current: Stage::Deployment,
        });
    framework()
        .given(vec![
            started(Stage::QualityAssurance),
            opened(Stage::QualityAssurance),
            ExecutionEvent::StageCompleted {
                stage: Stage::QualityAssurance,
            },
        ])
        .when(ExecutionCommand::Complete {
            cost_usd: Decimal::ONE,
        })
        .then_expect_events(vec![ExecutionEvent::ExecutionCompleted {
            cost_usd: Decimal::ONE,
        }]);
}
