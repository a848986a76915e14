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

fn usage(model: &str, input: u64, output: u64, cents_in: i64, cents_out: i64) -> ProjectCommand {
    ProjectCommand::RecordUsage(UsageRecord {
        usage_id: Uuid::from_u128(99),
        actor: MEMBER,
        agent_id: Uuid::from_u128(50),
        model: model.into(),
        input_tokens: input,
        output_tokens: output,
        conversation_id: None,
        task_id: None,
        price: crate::pricing::Price {
            input_usd_per_million: Decimal::new(cents_in, 2),
            output_usd_per_million: Decimal::new(cents_out, 2),
            effective_from: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        },
    })
}

fn with_budget(usd: i64) -> Vec<ProjectEvent> {
    let mut events = with_team();
    events.push(ProjectEvent::ProjectUpdated {
        name: "Apollo".into(),
        description: String::new(),
        budget_usd: Some(Decimal::from(usd)),
    });
    events
}

#[test]
fn usage_within_the_budget_is_charged_at_the_price_given() {
    ProjectTest::with(())
        .given(with_budget(20))
        .when(usage("claude-sonnet", 1_000_000, 1_000_000, 300, 1500))
        .then_expect_events(vec![ProjectEvent::TokenUsageRecorded {
            usage_id: Uuid::from_u128(99),
            agent_id: Uuid::from_u128(50),
            model: "claude-sonnet".into(),
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            conversation_id: None,
            task_id: None,
            input_usd_per_million: Decimal::new(300, 2),
            output_usd_per_million: Decimal::new(1500, 2),
            cost_usd: Decimal::from(18),
            input_cost_usd: Decimal::from(3),
            output_cost_usd: Decimal::from(15),
            spent_usd: Decimal::from(18),
        }]);
}

#[test]
fn paid_usage_past_the_budget_is_refused_naming_what_remains() {
    ProjectTest::with(())
        .given(with_budget(10))
        .when(usage("claude-sonnet", 1_000_000, 1_000_000, 300, 1500))
        .then_expect_error(ProjectError::BudgetExceeded {
            remaining_usd: Decimal::from(10),
            cost_usd: Decimal::from(18),
        });
}

#[test]
fn free_local_models_are_allowed_past_the_budget() {
    let mut history = with_budget(0);
    history.push(ProjectEvent::TokenUsageRecorded {
        usage_id: Uuid::from_u128(98),
        agent_id: Uuid::from_u128(50),
        model: "gpt-4".into(),
        input_tokens: 0,
        output_tokens: 0,
        conversation_id: None,
        task_id: None,
        input_usd_per_million: Decimal::ZERO,
        output_usd_per_million: Decimal::ZERO,
        cost_usd: Decimal::ZERO,
        input_cost_usd: Decimal::ZERO,
        output_cost_usd: Decimal::ZERO,
        spent_usd: Decimal::ZERO,
    });
    let events = Project::default();
    let mut state = events;
    for event in history {
        state.apply(event);
    }
    let decided = state
        .decide(usage("llama3.1:8b", 5_000, 5_000, 0, 0))
        .expect("local models are always allowed");
    assert!(
        matches!(decided.as_slice(), [ProjectEvent::TokenUsageRecorded { cost_usd, .. }] if cost_usd.is_zero())
    );
}

#[test]
fn a_viewer_cannot_record_usage() {
    let mut history = with_team();
    history.push(ProjectEvent::ProjectMemberRoleChanged {
        user_id: MEMBER,
        role: Role::Viewer,
    });
    ProjectTest::with(())
        .given(history)
        .when(usage("gpt-4", 1, 1, 3000, 6000))
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Viewer,
            needs: "owner, admin or member",
        });
}

const KEY: Uuid = Uuid::from_u128(100);

fn create_key(actor: Uuid, scopes: Vec<Scope>) -> ProjectCommand {
    ProjectCommand::CreateApiKey {
        actor,
        key_id: KEY,
        name: crate::shared::text::Label::parse("name", "ci").expect("valid label"),
        scopes,
        agent_id: None,
        secret_digest: "digest".into(),
    }
}

fn key_created() -> ProjectEvent {
    ProjectEvent::ApiKeyCreated {
        key_id: KEY,
        name: "ci".into(),
        scopes: vec![Scope::UsageWrite, Scope::Read],
        agent_id: None,
        secret_digest: "digest".into(),
        created_by: ADMIN,
    }
}

#[test]
fn an_admin_issues_a_key_with_its_scopes_sorted_once_each() {
    ProjectTest::with(())
        .given(with_team())
        .when(create_key(
            ADMIN,
            vec![Scope::Read, Scope::UsageWrite, Scope::Read],
        ))
        .then_expect_events(vec![key_created()]);
}

#[test]
fn a_member_may_not_issue_a_key_and_a_key_needs_a_scope() {
    ProjectTest::with(())
        .given(with_team())
        .when(create_key(MEMBER, vec![Scope::Read]))
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Member,
            needs: "owner or admin",
        });
    ProjectTest::with(())
        .given(with_team())
        .when(create_key(ADMIN, vec![]))
        .then_expect_error(ProjectError::Invalid(crate::FieldError::new(
            "scopes",
            "must name at least one scope",
        )));
    ProjectTest::with(())
        .given(with_team())
        .when(create_key(STRANGER, vec![Scope::Read]))
        .then_expect_error(ProjectError::NotFound);
}

#[test]
fn a_project_holds_at_most_fifty_active_keys() {
    let mut history = with_team();
    for n in 0..MAX_ACTIVE_API_KEYS {
        history.push(ProjectEvent::ApiKeyCreated {
            key_id: Uuid::from_u128(1000 + n as u128),
            name: "k".into(),
            scopes: vec![Scope::Read],
            agent_id: None,
            secret_digest: "d".into(),
            created_by: OWNER,
        });
    }
    ProjectTest::with(())
        .given(history.clone())
        .when(create_key(OWNER, vec![Scope::Read]))
        .then_expect_error(ProjectError::TooManyApiKeys {
            max: MAX_ACTIVE_API_KEYS,
        });
    history.push(ProjectEvent::ApiKeyRevoked {
        key_id: Uuid::from_u128(1000),
        revoked_by: OWNER,
    });
    ProjectTest::with(())
        .given(history)
        .when(create_key(OWNER, vec![Scope::Read]))
        .then_expect_events(vec![ProjectEvent::ApiKeyCreated {
            key_id: KEY,
            name: "ci".into(),
            scopes: vec![Scope::Read],
            agent_id: None,
            secret_digest: "digest".into(),
            created_by: OWNER,
        }]);
}

#[test]
fn revoking_a_key_happens_once_and_even_in_an_archived_project() {
    let mut history = with_team();
    history.push(key_created());
    history.push(ProjectEvent::ProjectArchived {});
    ProjectTest::with(())
        .given(history.clone())
        .when(ProjectCommand::RevokeApiKey {
            actor: ADMIN,
            key_id: KEY,
        })
        .then_expect_events(vec![ProjectEvent::ApiKeyRevoked {
            key_id: KEY,
            revoked_by: ADMIN,
        }]);
    history.push(ProjectEvent::ApiKeyRevoked {
        key_id: KEY,
        revoked_by: ADMIN,
    });
    ProjectTest::with(())
        .given(history.clone())
        .when(ProjectCommand::RevokeApiKey {
            actor: OWNER,
            key_id: KEY,
        })
        .then_expect_events(vec![]);
    ProjectTest::with(())
        .given(history.clone())
        .when(ProjectCommand::RevokeApiKey {
            actor: OWNER,
            key_id: Uuid::from_u128(999),
        })
        .then_expect_error(ProjectError::UnknownApiKey);
    ProjectTest::with(())
        .given(history)
        .when(ProjectCommand::RevokeApiKey {
            actor: MEMBER,
            key_id: KEY,
        })
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Member,
            needs: "owner or admin",
        });
}

const RUN: Uuid = Uuid::from_u128(40);

fn execution_started() -> ProjectEvent {
    ProjectEvent::ProjectExecutionStarted {
        execution_id: RUN,
        stage: Stage::Requirements,
        max_parallel_tasks: 4,
        started_by: OWNER,
    }
}

#[test]
fn an_admin_starts_one_execution_at_a_time_at_the_current_stage() {
    let start = ProjectCommand::StartExecution {
        actor: ADMIN,
        execution_id: RUN,
        max_parallel_tasks: 4,
    };
    TestFramework::<Project>::with(())
        .given(with_team())
        .when(start.clone())
        .then_expect_events(vec![ProjectEvent::ProjectExecutionStarted {
            execution_id: RUN,
            stage: Stage::Requirements,
            max_parallel_tasks: 4,
            started_by: ADMIN,
        }]);
    let mut running = with_team();
    running.push(execution_started());
    TestFramework::<Project>::with(())
        .given(running)
        .when(start)
        .then_expect_error(ProjectError::ExecutionRunning { execution_id: RUN });
}

#[test]
fn a_running_execution_moves_the_stage_and_people_do_not() {
    let mut running = with_team();
    running.push(execution_started());
    TestFramework::<Project>::with(())
        .given(running.clone())
        .when(ProjectCommand::ReachStage {
            execution_id: RUN,
            stage: Stage::Architecture,
        })
        .then_expect_events(vec![ProjectEvent::ProjectStageAdvanced {
            from: Stage::Requirements,
            to: Stage::Architecture,
        }]);
    TestFramework::<Project>::with(())
        .given(running.clone())
        .when(ProjectCommand::AdvanceStage {
            actor: OWNER,
            stage: Stage::Architecture,
        })
        .then_expect_error(ProjectError::ExecutionRunning { execution_id: RUN });
    running.push(ProjectEvent::ProjectStageAdvanced {
        from: Stage::Requirements,
        to: Stage::Architecture,
    });
    TestFramework::<Project>::with(())
        .given(running)
        .when(ProjectCommand::ReachStage {
            execution_id: RUN,
            stage: Stage::Architecture,
        })
        .then_expect_events(vec![]);
}

#[test]
fn ending_the_running_execution_lets_another_start_and_ending_it_again_changes_nothing() {
    let mut running = with_team();
    running.push(execution_started());
    TestFramework::<Project>::with(())
        .given(running.clone())
        .when(ProjectCommand::EndExecution { execution_id: RUN })
        .then_expect_events(vec![ProjectEvent::ProjectExecutionEnded { execution_id: RUN }]);
    running.push(ProjectEvent::ProjectExecutionEnded { execution_id: RUN });
    TestFramework::<Project>::with(())
        .given(running)
        .when(ProjectCommand::EndExecution { execution_id: RUN })
        .then_expect_events(vec![]);
}

const HOOK: Uuid = Uuid::from_u128(41);

fn add_webhook(actor: Uuid, webhook_id: Uuid) -> ProjectCommand {
    ProjectCommand::AddWebhook {
        actor,
        webhook_id,
        url: "https://example.com/hook".into(),
        events: vec!["task:created".into()],
    }
}

#[test]
fn an_admin_adds_and_removes_webhooks_up_to_the_limit() {
    TestFramework::<Project>::with(())
        .given(with_team())
        .when(add_webhook(ADMIN, HOOK))
        .then_expect_events(vec![ProjectEvent::WebhookAdded {
            webhook_id: HOOK,
            url: "https://example.com/hook".into(),
            events: vec!["task:created".into()],
            created_by: ADMIN,
        }]);
    let mut full = with_team();
    for n in 0..MAX_WEBHOOKS {
        full.push(ProjectEvent::WebhookAdded {
            webhook_id: Uuid::from_u128(1000 + n as u128),
            url: "https://example.com/hook".into(),
            events: vec!["task:created".into()],
            created_by: OWNER,
        });
    }
    TestFramework::<Project>::with(())
        .given(full)
        .when(add_webhook(OWNER, HOOK))
        .then_expect_error(ProjectError::TooManyWebhooks { max: MAX_WEBHOOKS });
    TestFramework::<Project>::with(())
        .given(with_team())
        .when(ProjectCommand::RemoveWebhook {
            actor: OWNER,
            webhook_id: HOOK,
        })
        .then_expect_error(ProjectError::UnknownWebhook);
    let mut added = with_team();
    added.push(ProjectEvent::WebhookAdded {
        webhook_id: HOOK,
        url: "https://example.com/hook".into(),
        events: vec!["task:created".into()],
        created_by: OWNER,
    });
    TestFramework::<Project>::with(())
        .given(added.clone())
        .when(ProjectCommand::RemoveWebhook {
            actor: ADMIN,
            webhook_id: HOOK,
        })
        .then_expect_events(vec![ProjectEvent::WebhookRemoved {
            webhook_id: HOOK,
            removed_by: ADMIN,
        }]);
    TestFramework::<Project>::with(())
        .given(added)
        .when(add_webhook(MEMBER, Uuid::from_u128(42)))
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Member,
            needs: "owner or admin",
        });
}

const INVITATION: Uuid = Uuid::from_u128(40);

fn at(hour: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
        .single()
        .expect("valid time")
}

fn invite(actor: Uuid, invitation_id: Uuid, role: Role) -> ProjectCommand {
    ProjectCommand::Invite {
        actor,
        invitation: NewInvitation {
            invitation_id,
            email: "new@example.com".into(),
            email_index: "index-of-new".into(),
            role,
            token_hash: "token".into(),
            expires_at: at(12),
        },
    }
}

fn invitation_sent(invited_by: Uuid, role: Role) -> ProjectEvent {
    ProjectEvent::InvitationSent {
        invitation_id: INVITATION,
        email: "new@example.com".into(),
        email_index: "index-of-new".into(),
        role,
        invited_by,
        token_hash: "token".into(),
        expires_at: at(12),
    }
}

fn accept(index: Option<&str>, token: &str, hour: u32) -> ProjectCommand {
    ProjectCommand::AcceptInvitation {
        invitation_id: INVITATION,
        token_hash: token.into(),
        user_id: STRANGER,
        verified_email_index: index.map(str::to_owned),
        now: at(hour),
    }
}

fn given_sent(by: Uuid, role: Role, more: Vec<ProjectEvent>) -> Vec<ProjectEvent> {
    let mut events = with_team();
    events.push(invitation_sent(by, role));
    events.extend(more);
    events
}

#[test]
fn an_admin_invites_by_email_and_only_an_owner_invites_an_owner() {
    ProjectTest::with(())
        .given(with_team())
        .when(invite(ADMIN, INVITATION, Role::Member))
        .then_expect_events(vec![invitation_sent(ADMIN, Role::Member)]);
    ProjectTest::with(())
        .given(with_team())
        .when(invite(ADMIN, INVITATION, Role::Owner))
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Admin,
            needs: "owner",
        });
    ProjectTest::with(())
        .given(with_team())
        .when(invite(MEMBER, INVITATION, Role::Viewer))
        .then_expect_error(ProjectError::NotAllowed {
            role: Role::Member,
            needs: "owner or admin",
        });
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(invite(ADMIN, INVITATION, Role::Member))
        .then_expect_error(ProjectError::AlreadyExists);
}

#[test]
fn pending_invitations_are_bounded() {
    let mut events = with_team();
    for n in 0..MAX_PENDING_INVITATIONS {
        let mut sent = invitation_sent(OWNER, Role::Viewer);
        if let ProjectEvent::InvitationSent { invitation_id, .. } = &mut sent {
            *invitation_id = Uuid::from_u128(1000 + n as u128);
        }
        events.push(sent);
    }
    ProjectTest::with(())
        .given(events)
        .when(invite(OWNER, INVITATION, Role::Viewer))
        .then_expect_error(ProjectError::TooManyInvitations {
            max: MAX_PENDING_INVITATIONS,
        });
}

#[test]
fn the_invited_verified_address_accepts_and_joins_in_the_same_append() {
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(accept(Some("index-of-new"), "token", 10))
        .then_expect_events(vec![
            ProjectEvent::InvitationAccepted {
                invitation_id: INVITATION,
                user_id: STRANGER,
            },
            ProjectEvent::ProjectMemberAdded {
                user_id: STRANGER,
                role: Role::Member,
            },
        ]);
}

#[test]
fn another_address_an_unverified_one_or_a_wrong_token_cannot_accept() {
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(accept(Some("index-of-someone-else"), "token", 10))
        .then_expect_error(ProjectError::InvitationForSomeoneElse);
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(accept(None, "token", 10))
        .then_expect_error(ProjectError::InvitationForSomeoneElse);
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(accept(Some("index-of-new"), "forged", 10))
        .then_expect_error(ProjectError::UnknownInvitation);
}

#[test]
fn an_expired_accepted_revoked_or_orphaned_invitation_is_gone() {
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(accept(Some("index-of-new"), "token", 12))
        .then_expect_error(ProjectError::InvitationGone("it has expired"));
    ProjectTest::with(())
        .given(given_sent(
            ADMIN,
            Role::Member,
            vec![ProjectEvent::InvitationAccepted {
                invitation_id: INVITATION,
                user_id: STRANGER,
            }],
        ))
        .when(accept(Some("index-of-new"), "token", 10))
        .then_expect_error(ProjectError::InvitationGone("it was accepted"));
    ProjectTest::with(())
        .given(given_sent(
            ADMIN,
            Role::Member,
            vec![ProjectEvent::InvitationRevoked {
                invitation_id: INVITATION,
                revoked_by: OWNER,
            }],
        ))
        .when(accept(Some("index-of-new"), "token", 10))
        .then_expect_error(ProjectError::InvitationGone("it was taken back"));
    // The admin who sent it was demoted: it lapses with their role.
    ProjectTest::with(())
        .given(given_sent(
            ADMIN,
            Role::Member,
            vec![ProjectEvent::ProjectMemberRoleChanged {
                user_id: ADMIN,
                role: Role::Viewer,
            }],
        ))
        .when(accept(Some("index-of-new"), "token", 10))
        .then_expect_error(ProjectError::InvitationGone("its sender may no longer invite"));
}

#[test]
fn a_pending_invitation_is_taken_back_once_and_an_accepted_one_cannot_be() {
    let revoke = |actor| ProjectCommand::RevokeInvitation {
        actor,
        invitation_id: INVITATION,
    };
    ProjectTest::with(())
        .given(given_sent(ADMIN, Role::Member, vec![]))
        .when(revoke(OWNER))
        .then_expect_events(vec![ProjectEvent::InvitationRevoked {
            invitation_id: INVITATION,
            revoked_by: OWNER,
        }]);
    ProjectTest::with(())
        .given(given_sent(
            ADMIN,
            Role::Member,
            vec![ProjectEvent::InvitationRevoked {
                invitation_id: INVITATION,
                revoked_by: OWNER,
            }],
        ))
        .when(revoke(OWNER))
        .then_expect_events(vec![]);
    ProjectTest::with(())
        .given(given_sent(
            ADMIN,
            Role::Member,
            vec![ProjectEvent::InvitationAccepted {
                invitation_id: INVITATION,
                user_id: STRANGER,
            }],
        ))
        .when(revoke(OWNER))
        .then_expect_error(ProjectError::InvitationGone("it was accepted"));
    ProjectTest::with(())
        .given(with_team())
        .when(revoke(OWNER))
        .then_expect_error(ProjectError::UnknownInvitation);
}
