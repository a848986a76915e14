//! Given a caller, when it asks for an action, then the policy allows or
//! refuses it, for every kind of caller and every branch.

use chrono::Utc;

use super::*;
use crate::api_keys::KeyGrant;

fn person(roles: &[&str]) -> AccessClaims {
    AccessClaims {
        user_id: Uuid::now_v7(),
        token_id: "t".to_owned(),
        session_id: None,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        issued_at: Utc::now(),
        expires_at: Utc::now(),
    }
}

fn key(project_id: Uuid, scopes: &[Scope], agent_id: Option<Uuid>) -> Principal {
    Principal::Key(KeyGrant {
        key_id: Uuid::now_v7(),
        project_id,
        scopes: scopes.to_vec(),
        agent_id,
        created_by: Uuid::now_v7(),
    })
}

fn refusal(result: Result<(), Problem>) -> String {
    match result {
        Ok(()) => panic!("expected a refusal"),
        Err(problem) => {
            assert_eq!(problem.status().as_u16(), 403, "{problem:?}");
            problem.detail().to_owned()
        }
    }
}

#[test]
fn a_person_passes_project_actions_whose_role_the_aggregate_or_sql_checks() {
    let caller = Principal::Person(person(&[]));
    let project = Uuid::now_v7();
    assert!(authorize(&caller, Action::in_project(Scope::ConflictsWrite, project)).is_ok());
    assert!(
        authorize(
            &caller,
            Action::for_agent(Scope::UsageWrite, project, Uuid::now_v7())
        )
        .is_ok()
    );
}

#[test]
fn system_actions_need_their_system_role() {
    let nobody = person(&[]);
    let admin = person(&["admin"]);
    let auditor = person(&["auditor"]);
    for action in [Action::SetPrices, Action::OperateProjections] {
        assert!(refusal(authorize_person(&nobody, action)).contains("admin"));
        assert!(refusal(authorize_person(&auditor, action)).contains("admin"));
        assert!(authorize_person(&admin, action).is_ok());
    }
    assert!(refusal(authorize_person(&nobody, Action::AuditEverything)).contains("auditors"));
    assert!(allows_person(&auditor, Action::AuditEverything));
    assert!(allows_person(&admin, Action::AuditEverything));
    assert!(!allows_person(&nobody, Action::AuditEverything));
}

#[test]
fn a_key_acts_only_in_its_project_with_its_scopes() {
    let project = Uuid::now_v7();
    let caller = key(project, &[Scope::UsageWrite], None);
    assert!(authorize(&caller, Action::in_project(Scope::UsageWrite, project)).is_ok());
    assert!(
        refusal(authorize(
            &caller,
            Action::in_project(Scope::UsageWrite, Uuid::now_v7())
        ))
        .contains("own project")
    );
    assert!(refusal(authorize(&caller, Action::in_project(Scope::Read, project))).contains("read"));
}

#[test]
fn a_key_bound_to_an_agent_acts_only_for_it() {
    let project = Uuid::now_v7();
    let agent = Uuid::now_v7();
    let caller = key(project, &[Scope::LocksWrite], Some(agent));
    assert!(authorize(&caller, Action::for_agent(Scope::LocksWrite, project, agent)).is_ok());
    assert!(
        refusal(authorize(
            &caller,
            Action::for_agent(Scope::LocksWrite, project, Uuid::now_v7())
        ))
        .contains("own agent")
    );
    // A route that acts for no agent in particular does not bind it.
    assert!(authorize(&caller, Action::in_project(Scope::LocksWrite, project)).is_ok());
    // An unbound key acts for any agent of its project.
    let unbound = key(project, &[Scope::LocksWrite], None);
    assert!(authorize(&unbound, Action::for_agent(Scope::LocksWrite, project, agent)).is_ok());
}

#[test]
fn a_key_never_holds_a_system_action() {
    let caller = key(Uuid::now_v7(), &[Scope::Read], None);
    for action in [
        Action::SetPrices,
        Action::OperateProjections,
        Action::AuditEverything,
    ] {
        assert!(refusal(authorize(&caller, action)).contains("API keys"));
    }
}
