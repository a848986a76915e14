//! Given events, when a command, then events or a refusal.

use cqrs_es::test::TestFramework;

use super::*;

fn skip(position: i64) -> ProjectionCommand {
    ProjectionCommand::SkipEvent {
        position,
        event_type: "MessageSent".to_owned(),
        reason: SkipReason::parse("holds U+0000, which the read model cannot store").expect("reason"),
        skipped_by: "cli:operator".to_owned(),
    }
}

#[test]
fn skipping_an_event_records_its_position_type_reason_and_who() {
    TestFramework::<Projection>::with(())
        .given_no_previous_events()
        .when(skip(42))
        .then_expect_events(vec![ProjectionEvent::ProjectionEventSkipped {
            position: 42,
            event_type: "MessageSent".to_owned(),
            reason: "holds U+0000, which the read model cannot store".to_owned(),
            skipped_by: "cli:operator".to_owned(),
        }]);
}

#[test]
fn skipping_the_same_event_twice_is_refused() {
    TestFramework::<Projection>::with(())
        .given(Projection::default().decide(skip(42)).expect("decides"))
        .when(skip(42))
        .then_expect_error(ProjectionError::AlreadySkipped { position: 42 });
}

#[test]
fn a_reason_must_be_given() {
    assert!(SkipReason::parse("  ").is_err());
    assert!(SkipReason::parse("a\u{0}b").is_err());
}

#[test]
fn the_state_reads_back_from_stored_payloads() {
    let events = Projection::default().decide(skip(7)).expect("decides");
    let payloads: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("serialises"))
        .collect();
    let state = Projection::from_payloads(&payloads).expect("reads");
    assert_eq!(state.skipped.keys().copied().collect::<Vec<_>>(), vec![7]);
}
