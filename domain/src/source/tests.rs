//! Given/when/then tests of the Source and SourceFolder aggregates.

use cqrs_es::test::TestFramework;

use super::*;
use crate::project::Role;

const SOURCE: Uuid = Uuid::from_u128(1);
const PROJECT: Uuid = Uuid::from_u128(2);
const ACTOR: Uuid = Uuid::from_u128(3);
const FOLDER: Uuid = Uuid::from_u128(4);
const CHILD: Uuid = Uuid::from_u128(5);
const MEMBER: ProjectAccess = ProjectAccess {
    role: Some(Role::Member),
    project_archived: false,
};
const VIEWER: ProjectAccess = ProjectAccess {
    role: Some(Role::Viewer),
    project_archived: false,
};

fn name(raw: &str) -> SourceName {
    SourceName::parse("name", raw).expect("a name")
}

fn digest() -> Sha256Hex {
    Sha256Hex::parse(&"ab".repeat(32)).expect("a digest")
}

fn add(size_bytes: u64, access: ProjectAccess) -> SourceCommand {
    SourceCommand::Add {
        source_id: SOURCE,
        project_id: PROJECT,
        folder_id: Some(FOLDER),
        name: name("notes.md"),
        size_bytes,
        media_type: MediaType::parse_or_default(Some("text/markdown; charset=utf-8")),
        sha256: digest(),
        actor: ACTOR,
        access,
    }
}

fn added() -> SourceEvent {
    SourceEvent::SourceAdded {
        source_id: SOURCE,
        project_id: PROJECT,
        folder_id: Some(FOLDER),
        name: "notes.md".into(),
        size_bytes: 10,
        media_type: "text/markdown".into(),
        sha256: "ab".repeat(32),
        added_by: ACTOR,
    }
}

fn created() -> FolderEvent {
    FolderEvent::SourceFolderCreated {
        folder_id: FOLDER,
        project_id: PROJECT,
        name: "docs".into(),
        parent_id: None,
        created_by: ACTOR,
    }
}

#[test]
fn a_member_adds_a_source_with_its_type_essence() {
    TestFramework::<Source>::with(())
        .given_no_previous_events()
        .when(add(10, MEMBER))
        .then_expect_events(vec![added()]);
}

#[test]
fn a_viewer_adds_nothing_and_nothing_over_50_mb_is_added() {
    TestFramework::<Source>::with(())
        .given_no_previous_events()
        .when(add(10, VIEWER))
        .then_expect_error(SourceError::NotAllowed);
    TestFramework::<Source>::with(())
        .given_no_previous_events()
        .when(add(MAX_SOURCE_BYTES + 1, MEMBER))
        .then_expect_error(SourceError::Invalid(crate::error::FieldError::new(
            "file",
            "must be at most 50 MB",
        )));
}

#[test]
fn a_removed_source_is_not_found_and_the_same_name_or_folder_is_no_change() {
    TestFramework::<Source>::with(())
        .given(vec![added(), SourceEvent::SourceRemoved { removed_by: ACTOR }])
        .when(SourceCommand::Rename {
            name: name("other.md"),
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_error(SourceError::NotFound);
    TestFramework::<Source>::with(())
        .given(vec![added()])
        .when(SourceCommand::Move {
            folder_id: Some(FOLDER),
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_events(vec![]);
    TestFramework::<Source>::with(())
        .given(vec![added()])
        .when(SourceCommand::Move {
            folder_id: None,
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_events(vec![SourceEvent::SourceMoved {
            folder_id: None,
            moved_by: ACTOR,
        }]);
}

#[test]
fn a_folder_moves_neither_into_itself_nor_under_its_own_subfolder() {
    for (parent, ancestors) in [(FOLDER, vec![]), (CHILD, vec![FOLDER])] {
        TestFramework::<SourceFolder>::with(())
            .given(vec![created()])
            .when(FolderCommand::Move {
                parent_id: Some(parent),
                parent_ancestors: ancestors,
                actor: ACTOR,
                access: MEMBER,
            })
            .then_expect_error(SourceError::FolderCycle);
    }
    TestFramework::<SourceFolder>::with(())
        .given(vec![created()])
        .when(FolderCommand::Move {
            parent_id: Some(CHILD),
            parent_ancestors: vec![Uuid::from_u128(9)],
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_events(vec![FolderEvent::SourceFolderMoved {
            parent_id: Some(CHILD),
            moved_by: ACTOR,
        }]);
}

#[test]
fn only_an_empty_folder_is_removed() {
    TestFramework::<SourceFolder>::with(())
        .given(vec![created()])
        .when(FolderCommand::Remove {
            holds: 1,
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_error(SourceError::FolderNotEmpty);
    TestFramework::<SourceFolder>::with(())
        .given(vec![created()])
        .when(FolderCommand::Remove {
            holds: 0,
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_events(vec![FolderEvent::SourceFolderRemoved { removed_by: ACTOR }]);
}

#[test]
fn names_hold_no_path_and_types_fall_back_to_octet_stream() {
    for bad in ["a/b", "..", ".", " ", "a\\b"] {
        assert!(SourceName::parse("name", bad).is_err(), "{bad:?}");
    }
    assert_eq!(name("  report.pdf ").as_str(), "report.pdf");
    assert_eq!(
        MediaType::parse_or_default(Some("nonsense")).as_str(),
        MediaType::OCTET_STREAM
    );
    assert_eq!(
        MediaType::parse_or_default(None).as_str(),
        MediaType::OCTET_STREAM
    );
    assert_eq!(
        MediaType::parse_or_default(Some("Text/Plain; charset=utf-8")).as_str(),
        "text/plain"
    );
    assert!(Sha256Hex::parse("AB").is_err());
}

#[test]
fn an_id_is_added_once_and_nothing_is_added_to_an_archived_project() {
    TestFramework::<Source>::with(())
        .given(vec![added()])
        .when(add(10, MEMBER))
        .then_expect_error(SourceError::AlreadyExists);
    TestFramework::<SourceFolder>::with(())
        .given(vec![created()])
        .when(FolderCommand::Create {
            folder_id: FOLDER,
            project_id: PROJECT,
            name: name("again"),
            parent_id: None,
            actor: ACTOR,
            access: MEMBER,
        })
        .then_expect_error(SourceError::AlreadyExists);
    let archived = ProjectAccess {
        role: Some(Role::Owner),
        project_archived: true,
    };
    TestFramework::<Source>::with(())
        .given_no_previous_events()
        .when(add(10, archived))
        .then_expect_error(SourceError::ProjectArchived);
}

#[test]
fn text_sources_are_searchable_by_type_or_by_the_name_of_untyped_bytes() {
    assert!(is_searchable_text("text/markdown", "notes"));
    assert!(is_searchable_text("text/plain", "a.bin"));
    assert!(is_searchable_text("application/json", "data"));
    assert!(is_searchable_text("application/ld+json", "data"));
    assert!(is_searchable_text(MediaType::OCTET_STREAM, "README.MD"));
    assert!(!is_searchable_text(MediaType::OCTET_STREAM, "photo.png"));
    assert!(!is_searchable_text("image/png", "looks-like.md"));
    assert!(!is_searchable_text("application/pdf", "paper.pdf"));
}
