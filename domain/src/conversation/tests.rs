//! Given/when/then tests of the Conversation aggregate.

use cqrs_es::test::TestFramework;

use super::*;

const CONVERSATION: Uuid = Uuid::from_u128(1);
const PROJECT: Uuid = Uuid::from_u128(2);
const ALICE: Uuid = Uuid::from_u128(10);
const BOB: Uuid = Uuid::from_u128(11);
const MESSAGE: Uuid = Uuid::from_u128(20);

fn access(role: Role) -> ProjectAccess {
    ProjectAccess {
        role: Some(role),
        project_archived: false,
    }
}

const OUTSIDER: ProjectAccess = ProjectAccess {
    role: None,
    project_archived: false,
};

fn started() -> ConversationEvent {
    ConversationEvent::ConversationStarted {
        conversation_id: CONVERSATION,
        project_id: PROJECT,
        title: "Planning".into(),
        started_by: ALICE,
    }
}

fn sent(number: u64, author: Uuid) -> ConversationEvent {
    ConversationEvent::MessageSent {
        message_id: MESSAGE,
        number,
        author_id: author,
        role: MessageRole::User,
        agent_id: None,
        content: "hello".into(),
    }
}

fn content(text: &str) -> MessageContent {
    MessageContent::parse(text).expect("valid content")
}

fn send(actor: Uuid, access: ProjectAccess) -> ConversationCommand {
    ConversationCommand::Send {
        message_id: MESSAGE,
        actor,
        access,
        role: MessageRole::User,
        agent_id: None,
        content: content("hello"),
    }
}

fn facts(author: Uuid, version: u64) -> Option<MessageFacts> {
    Some(MessageFacts {
        author_id: author,
        deleted: false,
        as_of_version: version,
    })
}

#[test]
fn a_member_starts_a_conversation() {
    TestFramework::<Conversation>::with(())
        .given_no_previous_events()
        .when(ConversationCommand::Start {
            conversation_id: CONVERSATION,
            project_id: PROJECT,
            title: Title::parse("Planning").expect("title"),
            actor: ALICE,
            access: access(Role::Member),
        })
        .then_expect_events(vec![started()]);
}

#[test]
fn a_viewer_cannot_start_a_conversation() {
    TestFramework::<Conversation>::with(())
        .given_no_previous_events()
        .when(ConversationCommand::Start {
            conversation_id: CONVERSATION,
            project_id: PROJECT,
            title: Title::parse("Planning").expect("title"),
            actor: ALICE,
            access: access(Role::Viewer),
        })
        .then_expect_error(ConversationError::NotAllowed(
            "viewers cannot write in conversations",
        ));
}

#[test]
fn messages_are_numbered_one_after_another() {
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(send(BOB, access(Role::Member)))
        .then_expect_events(vec![ConversationEvent::MessageSent {
            message_id: MESSAGE,
            number: 2,
            author_id: BOB,
            role: MessageRole::User,
            agent_id: None,
            content: "hello".into(),
        }]);
}

#[test]
fn an_outsider_is_told_the_conversation_does_not_exist() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(send(BOB, OUTSIDER))
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn an_archived_conversation_takes_no_messages() {
    TestFramework::<Conversation>::with(())
        .given(vec![
            started(),
            ConversationEvent::ConversationArchived { archived_by: ALICE },
        ])
        .when(send(ALICE, access(Role::Owner)))
        .then_expect_error(ConversationError::Archived);
}

#[test]
fn an_agent_message_must_name_its_agent() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(ConversationCommand::Send {
            message_id: MESSAGE,
            actor: ALICE,
            access: access(Role::Member),
            role: MessageRole::Agent,
            agent_id: None,
            content: content("beep"),
        })
        .then_expect_error(ConversationError::Invalid(crate::FieldError::new(
            "agent_id",
            "agent messages must name the agent",
        )));
}

#[test]
fn only_the_author_edits_a_message() {
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(ConversationCommand::Edit {
            message_id: MESSAGE,
            actor: BOB,
            access: access(Role::Admin),
            content: content("mine now"),
            facts: facts(ALICE, 2),
        })
        .then_expect_error(ConversationError::NotAllowed(
            "only its author can edit a message",
        ));
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(ConversationCommand::Edit {
            message_id: MESSAGE,
            actor: ALICE,
            access: access(Role::Member),
            content: content("better"),
            facts: facts(ALICE, 2),
        })
        .then_expect_events(vec![ConversationEvent::MessageEdited {
            message_id: MESSAGE,
            content: "better".into(),
            edited_by: ALICE,
        }]);
}

#[test]
fn an_admin_deletes_someone_elses_message_but_a_member_cannot() {
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(ConversationCommand::Delete {
            message_id: MESSAGE,
            actor: BOB,
            access: access(Role::Admin),
            facts: facts(ALICE, 2),
        })
        .then_expect_events(vec![ConversationEvent::MessageDeleted {
            message_id: MESSAGE,
            deleted_by: BOB,
        }]);
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(ConversationCommand::Delete {
            message_id: MESSAGE,
            actor: BOB,
            access: access(Role::Member),
            facts: facts(ALICE, 2),
        })
        .then_expect_error(ConversationError::NotAllowed(
            "only its author or a project owner or admin can delete a message",
        ));
}

#[test]
fn facts_read_before_a_concurrent_change_are_refused() {
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE), sent(2, BOB)])
        .when(ConversationCommand::Delete {
            message_id: MESSAGE,
            actor: ALICE,
            access: access(Role::Member),
            facts: facts(ALICE, 2),
        })
        .then_expect_error(ConversationError::StaleFacts);
}

#[test]
fn a_deleted_message_cannot_be_edited_or_deleted_again() {
    TestFramework::<Conversation>::with(())
        .given(vec![started(), sent(1, ALICE)])
        .when(ConversationCommand::Edit {
            message_id: MESSAGE,
            actor: ALICE,
            access: access(Role::Member),
            content: content("zombie"),
            facts: Some(MessageFacts {
                author_id: ALICE,
                deleted: true,
                as_of_version: 2,
            }),
        })
        .then_expect_error(ConversationError::MessageDeleted);
}

#[test]
fn a_missing_message_is_not_found() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(ConversationCommand::Delete {
            message_id: MESSAGE,
            actor: ALICE,
            access: access(Role::Owner),
            facts: None,
        })
        .then_expect_error(ConversationError::MessageNotFound);
}

#[test]
fn the_starter_or_an_admin_archives_and_a_plain_member_cannot() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(ConversationCommand::Archive {
            actor: BOB,
            access: access(Role::Member),
        })
        .then_expect_error(ConversationError::NotAllowed(
            "only its starter or a project owner or admin can archive a conversation",
        ));
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(ConversationCommand::Archive {
            actor: ALICE,
            access: access(Role::Member),
        })
        .then_expect_events(vec![ConversationEvent::ConversationArchived {
            archived_by: ALICE,
        }]);
}

#[test]
fn state_after_many_messages_stays_small_and_equals_a_replay() {
    let mut state = Conversation::default();
    state.apply(started());
    for n in 1..=1000 {
        state.apply(sent(n, ALICE));
    }
    let snapshot = serde_json::to_string(&state).expect("serialises");
    assert!(snapshot.len() < 300, "{snapshot}");
    assert_eq!(state.messages_sent, 1000);
    assert_eq!(state.version, 1001);
}

#[test]
fn starting_a_conversation_twice_is_refused() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(ConversationCommand::Start {
            conversation_id: CONVERSATION,
            project_id: PROJECT,
            title: Title::parse("Planning").expect("title"),
            actor: ALICE,
            access: access(Role::Member),
        })
        .then_expect_error(ConversationError::AlreadyExists);
}

#[test]
fn an_archived_project_takes_no_message() {
    TestFramework::<Conversation>::with(())
        .given(vec![started()])
        .when(send(
            BOB,
            ProjectAccess {
                role: Some(Role::Member),
                project_archived: true,
            },
        ))
        .then_expect_error(ConversationError::ProjectArchived);
}
