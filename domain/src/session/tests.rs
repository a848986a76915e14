//! Given events, when a command, then events or a refusal.

use chrono::TimeZone;
use cqrs_es::test::TestFramework;

use super::*;

const SESSION: Uuid = Uuid::from_u128(5);
const USER: Uuid = Uuid::from_u128(6);

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0)
        .single()
        .expect("valid time")
}

fn started() -> SessionEvent {
    SessionEvent::SessionStarted {
        session_id: SESSION,
        user_id: USER,
        refresh_hash: "h1".into(),
        expires_at: at(10),
        started_at: at(1),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("zekka-test".into()),
    }
}

fn client() -> SignInClient {
    SignInClient {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("zekka-test".into()),
    }
}

fn refresh(presented: &str, now: DateTime<Utc>) -> SessionCommand {
    SessionCommand::Refresh {
        presented_hash: presented.into(),
        new_hash: "h-next".into(),
        expires_at: at(20),
        now,
    }
}

#[test]
fn the_current_token_is_rotated() {
    TestFramework::<Session>::with(())
        .given(vec![started()])
        .when(refresh("h1", at(2)))
        .then_expect_events(vec![SessionEvent::SessionRefreshed {
            refresh_hash: "h-next".into(),
            expires_at: at(20),
        }]);
}

#[test]
fn presenting_a_rotated_token_is_reuse() {
    TestFramework::<Session>::with(())
        .given(vec![
            started(),
            SessionEvent::SessionRefreshed {
                refresh_hash: "h2".into(),
                expires_at: at(12),
            },
        ])
        .when(refresh("h1", at(3)))
        .then_expect_error(SessionError::TokenReused);
}

#[test]
fn an_unknown_token_is_refused() {
    TestFramework::<Session>::with(())
        .given(vec![started()])
        .when(refresh("forged", at(2)))
        .then_expect_error(SessionError::UnknownToken);
}

#[test]
fn an_expired_token_is_refused() {
    TestFramework::<Session>::with(())
        .given(vec![started()])
        .when(refresh("h1", at(11)))
        .then_expect_error(SessionError::Expired);
}

#[test]
fn a_revoked_session_cannot_refresh() {
    TestFramework::<Session>::with(())
        .given(vec![
            started(),
            SessionEvent::SessionRevoked {
                reason: RevocationReason::Logout,
            },
        ])
        .when(refresh("h1", at(2)))
        .then_expect_error(SessionError::Revoked);
}

#[test]
fn revoking_twice_records_it_once() {
    TestFramework::<Session>::with(())
        .given(vec![
            started(),
            SessionEvent::SessionRevoked {
                reason: RevocationReason::Logout,
            },
        ])
        .when(SessionCommand::Revoke {
            reason: RevocationReason::RefreshTokenReuse,
        })
        .then_expect_events(vec![]);
}

#[test]
fn given_a_started_session_when_it_is_started_again_then_it_is_refused_as_taken() {
    TestFramework::<Session>::with(())
        .given(vec![started()])
        .when(SessionCommand::Start {
            session_id: SESSION,
            user_id: USER,
            refresh_hash: "h9".into(),
            expires_at: at(12),
            client: client(),
            now: at(2),
        })
        .then_expect_error(SessionError::AlreadyStarted);
}

#[test]
fn given_no_session_when_a_token_is_refreshed_then_it_is_refused_as_unknown() {
    TestFramework::<Session>::with(())
        .given_no_previous_events()
        .when(refresh("h1", at(2)))
        .then_expect_error(SessionError::NotFound);
}

#[test]
fn given_no_session_when_it_is_revoked_then_it_is_refused_as_unknown() {
    TestFramework::<Session>::with(())
        .given_no_previous_events()
        .when(SessionCommand::Revoke {
            reason: RevocationReason::Logout,
        })
        .then_expect_error(SessionError::NotFound);
}

#[test]
fn given_no_session_when_it_starts_then_it_records_who_and_when() {
    TestFramework::<Session>::with(())
        .given_no_previous_events()
        .when(SessionCommand::Start {
            session_id: SESSION,
            user_id: USER,
            refresh_hash: "h1".into(),
            expires_at: at(10),
            client: client(),
            now: at(1),
        })
        .then_expect_events(vec![started()]);
}
