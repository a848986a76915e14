//! Given/when/then tests of the User aggregate.

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;

use super::*;

const ALICE: Uuid = Uuid::from_u128(7);

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, minute, 0)
        .single()
        .expect("valid time")
}

fn register() -> UserCommand {
    UserCommand::Register {
        user_id: ALICE,
        email: Email::parse(" Alice@Example.COM ").expect("valid email"),
        display_name: DisplayName::parse("Alice").expect("valid name"),
        password_hash: "$argon2id$stub".into(),
        email_generation: 0,
    }
}

fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        user_id: ALICE,
        email: "alice@example.com".into(),
        display_name: "Alice".into(),
        password_hash: "$argon2id$stub".into(),
        email_generation: 0,
    }
}

fn failure(minute: u32) -> UserCommand {
    UserCommand::RecordLoginFailure {
        now: at(minute),
        threshold: 5,
        lock_for: Duration::minutes(15),
    }
}

#[test]
fn registering_records_the_normalised_email_and_the_hash() {
    TestFramework::<User>::with(())
        .given_no_previous_events()
        .when(register())
        .then_expect_events(vec![registered()]);
}

#[test]
fn registering_the_same_account_twice_is_rejected() {
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(register())
        .then_expect_error(UserError::AlreadyRegistered);
}

#[test]
fn a_failed_sign_in_below_the_threshold_only_counts() {
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(failure(0))
        .then_expect_events(vec![UserEvent::LoginFailed {
            failures: 1,
            locked_until: None,
        }]);
}

#[test]
fn the_fifth_failure_in_a_row_locks_the_account_for_the_lock_duration() {
    let mut history = vec![registered()];
    for n in 1..=4 {
        history.push(UserEvent::LoginFailed {
            failures: n,
            locked_until: None,
        });
    }
    TestFramework::<User>::with(())
        .given(history)
        .when(failure(3))
        .then_expect_events(vec![UserEvent::LoginFailed {
            failures: 0,
            locked_until: Some(at(18)),
        }]);
}

#[test]
fn a_lock_ends_by_itself() {
    let mut user = User::default();
    user.apply(registered());
    user.apply(UserEvent::LoginFailed {
        failures: 0,
        locked_until: Some(at(18)),
    });
    assert_eq!(user.locked_at(at(17)), Some(at(18)));
    assert_eq!(user.locked_at(at(18)), None);
}

#[test]
fn a_success_after_failures_clears_them_and_otherwise_records_nothing() {
    TestFramework::<User>::with(())
        .given(vec![
            registered(),
            UserEvent::LoginFailed {
                failures: 2,
                locked_until: None,
            },
        ])
        .when(UserCommand::RecordLoginSuccess)
        .then_expect_events(vec![UserEvent::LoginFailuresCleared {}]);
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(UserCommand::RecordLoginSuccess)
        .then_expect_events(vec![]);
}

fn reset_requested() -> UserEvent {
    UserEvent::PasswordResetRequested {
        token_hash: "t1".into(),
        expires_at: at(30),
    }
}

fn reset(token: &str, minute: u32) -> UserCommand {
    UserCommand::ResetPassword {
        token_hash: token.into(),
        password_hash: "$argon2id$new".into(),
        now: at(minute),
    }
}

#[test]
fn a_valid_reset_token_sets_the_password_and_revokes_sessions() {
    TestFramework::<User>::with(())
        .given(vec![registered(), reset_requested()])
        .when(reset("t1", 10))
        .then_expect_events(vec![UserEvent::PasswordReset {
            password_hash: "$argon2id$new".into(),
            token_hash: "t1".into(),
            sessions_revoked_at: at(10),
        }]);
}

#[test]
fn a_reset_token_works_once() {
    TestFramework::<User>::with(())
        .given(vec![
            registered(),
            reset_requested(),
            UserEvent::PasswordReset {
                password_hash: "$argon2id$new".into(),
                token_hash: "t1".into(),
                sessions_revoked_at: at(10),
            },
        ])
        .when(reset("t1", 11))
        .then_expect_error(UserError::TokenUsed);
}

#[test]
fn an_expired_reset_token_is_refused() {
    TestFramework::<User>::with(())
        .given(vec![registered(), reset_requested()])
        .when(reset("t1", 31))
        .then_expect_error(UserError::TokenExpired);
}

#[test]
fn an_unknown_reset_token_is_refused() {
    TestFramework::<User>::with(())
        .given(vec![registered(), reset_requested()])
        .when(reset("forged", 1))
        .then_expect_error(UserError::UnknownToken);
}

#[test]
fn a_verification_token_confirms_the_email() {
    TestFramework::<User>::with(())
        .given(vec![
            registered(),
            UserEvent::EmailVerificationRequested {
                token_hash: "v1".into(),
                expires_at: at(30),
            },
        ])
        .when(UserCommand::VerifyEmail {
            token_hash: "v1".into(),
            now: at(5),
        })
        .then_expect_events(vec![UserEvent::EmailVerified {
            token_hash: "v1".into(),
        }]);
}

#[test]
fn commands_on_a_missing_account_are_refused() {
    TestFramework::<User>::with(())
        .given_no_previous_events()
        .when(UserCommand::RecordLoginSuccess)
        .then_expect_error(UserError::NotFound);
}

#[test]
fn erasing_an_account_records_when() {
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(UserCommand::Erase { now: at(5) })
        .then_expect_events(vec![UserEvent::UserErased { erased_at: at(5) }]);
}

#[test]
fn erasing_twice_changes_nothing() {
    TestFramework::<User>::with(())
        .given(vec![registered(), UserEvent::UserErased { erased_at: at(5) }])
        .when(UserCommand::Erase { now: at(6) })
        .then_expect_events(vec![]);
}

#[test]
fn an_erased_account_accepts_nothing_else() {
    let erased = vec![registered(), UserEvent::UserErased { erased_at: at(5) }];
    for command in [
        failure(6),
        UserCommand::RecordLoginSuccess,
        UserCommand::RequestPasswordReset {
            token_hash: "h".into(),
            expires_at: at(30),
        },
    ] {
        TestFramework::<User>::with(())
            .given(erased.clone())
            .when(command)
            .then_expect_error(UserError::NotFound);
    }
}

#[test]
fn erasing_forgets_the_email_and_password_and_ends_sessions() {
    let mut user = User::default();
    user.apply(registered());
    user.apply(UserEvent::UserErased { erased_at: at(5) });
    assert!(user.erased);
    assert!(user.email.is_empty() && user.password_hash.is_empty());
    assert_eq!(user.sessions_revoked_at, Some(at(5)));
}

#[test]
fn an_unknown_account_cannot_be_erased() {
    TestFramework::<User>::with(())
        .given_no_previous_events()
        .when(UserCommand::Erase { now: at(5) })
        .then_expect_error(UserError::NotFound);
}

fn state_after(events: Vec<UserEvent>) -> User {
    let mut user = User::default();
    for event in events {
        user.apply(event);
    }
    user
}

#[test]
fn a_listed_email_gives_its_system_role_only_once_verified() {
    let admins = vec!["alice@example.com".to_owned()];
    let unverified = state_after(vec![registered()]);
    assert!(unverified.system_roles(&admins, &[]).is_empty());
    let verified = state_after(vec![
        registered(),
        UserEvent::EmailVerified {
            token_hash: "t".into(),
        },
    ]);
    assert_eq!(verified.system_roles(&admins, &[]), vec![SystemRole::Admin]);
    assert_eq!(verified.system_roles(&[], &admins), vec![SystemRole::Auditor]);
}

#[test]
fn an_operator_grants_a_system_role_once_and_can_take_it_back() {
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(UserCommand::GrantSystemRole {
            role: SystemRole::Admin,
        })
        .then_expect_events(vec![UserEvent::SystemRoleGranted {
            role: SystemRole::Admin,
        }]);
    let granted = vec![
        registered(),
        UserEvent::SystemRoleGranted {
            role: SystemRole::Admin,
        },
    ];
    TestFramework::<User>::with(())
        .given(granted.clone())
        .when(UserCommand::GrantSystemRole {
            role: SystemRole::Admin,
        })
        .then_expect_events(vec![]);
    assert_eq!(
        state_after(granted.clone()).system_roles(&[], &[]),
        vec![SystemRole::Admin]
    );
    TestFramework::<User>::with(())
        .given(granted)
        .when(UserCommand::RevokeSystemRole {
            role: SystemRole::Admin,
        })
        .then_expect_events(vec![UserEvent::SystemRoleRevoked {
            role: SystemRole::Admin,
        }]);
}

#[test]
fn a_role_cannot_be_granted_to_no_account() {
    TestFramework::<User>::with(())
        .given_no_previous_events()
        .when(UserCommand::GrantSystemRole {
            role: SystemRole::Auditor,
        })
        .then_expect_error(UserError::NotFound);
}

#[test]
fn a_reset_token_is_checked_without_a_new_password_and_no_account_reads_as_a_bad_token() {
    assert_eq!(
        User::default().check_reset_token("t", at(0)),
        Err(UserError::UnknownToken)
    );
    let user = state_after(vec![
        registered(),
        UserEvent::PasswordResetRequested {
            token_hash: "t".into(),
            expires_at: at(30),
        },
    ]);
    assert_eq!(user.check_reset_token("t", at(1)), Ok(()));
    assert_eq!(
        user.check_reset_token("other", at(1)),
        Err(UserError::UnknownToken)
    );
    assert_eq!(user.check_reset_token("t", at(31)), Err(UserError::TokenExpired));
}

#[test]
fn a_password_change_keeps_the_session_it_was_made_in_and_ends_the_others() {
    let kept = Uuid::from_u128(70);
    let other = Uuid::from_u128(71);
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(UserCommand::ChangePassword {
            password_hash: "$argon2id$new".into(),
            keep_session: Some(kept),
            now: at(30),
        })
        .then_expect_events(vec![UserEvent::PasswordChanged {
            password_hash: "$argon2id$new".into(),
            sessions_revoked_at: at(30),
            kept_session: Some(kept),
        }]);
    let user = state_after(vec![
        registered(),
        UserEvent::PasswordChanged {
            password_hash: "$argon2id$new".into(),
            sessions_revoked_at: at(30),
            kept_session: Some(kept),
        },
    ]);
    assert_eq!(user.password_hash, "$argon2id$new");
    assert!(!user.ended_session(kept, Some(at(10))));
    assert!(user.ended_session(other, Some(at(10))));
    assert!(
        !user.ended_session(other, Some(at(31))),
        "a later sign-in goes on"
    );
}

#[test]
fn a_reset_after_a_change_spares_no_session() {
    let kept = Uuid::from_u128(70);
    let user = state_after(vec![
        registered(),
        UserEvent::PasswordChanged {
            password_hash: "$argon2id$new".into(),
            sessions_revoked_at: at(30),
            kept_session: Some(kept),
        },
        reset_requested(),
        UserEvent::PasswordReset {
            password_hash: "$argon2id$reset".into(),
            token_hash: "t1".into(),
            sessions_revoked_at: at(40),
        },
    ]);
    assert!(user.ended_session(kept, Some(at(10))));
}

#[test]
fn a_new_display_name_is_recorded_and_the_same_one_changes_nothing() {
    let rename = |name: &str| UserCommand::ChangeDisplayName {
        display_name: DisplayName::parse(name).expect("valid name"),
    };
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(rename("Alice B."))
        .then_expect_events(vec![UserEvent::DisplayNameChanged {
            display_name: "Alice B.".into(),
        }]);
    TestFramework::<User>::with(())
        .given(vec![registered()])
        .when(rename("Alice"))
        .then_expect_events(vec![]);
    TestFramework::<User>::with(())
        .given(vec![registered(), UserEvent::UserErased { erased_at: at(5) }])
        .when(rename("Ghost"))
        .then_expect_error(UserError::NotFound);
}
