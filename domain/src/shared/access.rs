//! The actor's standing in a project, and the one rule for writing in it.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, FieldError, Refusal};

/// What a member may do in a project.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Everything, including archiving and granting ownership.
    Owner,
    /// Manage the project and its members, but not its owners.
    Admin,
    /// Work in the project.
    Member,
    /// Read only.
    Viewer,
}

impl Role {
    /// Whether this role may change the project and its members.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

crate::named::named!(Role => "role");

/// The actor's standing in a project, read from the Project aggregate just
/// before a command about something of that project (an agent, a
/// conversation, a conflict) and carried in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectAccess {
    /// The actor's role; `None` when they are not a member.
    pub role: Option<Role>,
    /// Whether the project is archived.
    pub project_archived: bool,
}

/// Why an actor may not write in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessRefusal {
    /// Not a member: the project is not theirs to know about.
    #[error("project not found")]
    NotMember,
    /// A viewer reads and never writes.
    #[error("viewers may read this project but not change it")]
    Viewer,
    /// An archived project is read-only, for everything in it.
    #[error("the project is archived")]
    Archived,
}

impl ProjectAccess {
    /// The actor's role, when they are a member.
    ///
    /// # Errors
    /// [`AccessRefusal::NotMember`].
    pub fn member_role(self) -> Result<Role, AccessRefusal> {
        self.role.ok_or(AccessRefusal::NotMember)
    }

    /// The rule every write about something of a project follows, for
    /// agents, conversations and conflicts alike: a member who is not a
    /// viewer, in a project that is not archived. Routes whose work
    /// reaches outside the event store (file locks) check it before that
    /// work, so a refused caller changes nothing anywhere.
    ///
    /// # Errors
    /// The first rule broken, in the order above.
    pub fn require_writer(self) -> Result<Role, AccessRefusal> {
        let role = self.member_role()?;
        if role == Role::Viewer {
            return Err(AccessRefusal::Viewer);
        }
        if self.project_archived {
            return Err(AccessRefusal::Archived);
        }
        Ok(role)
    }
}

impl Refusal for AccessRefusal {
    fn kind(&self) -> ErrorKind {
        match self {
            AccessRefusal::NotMember => ErrorKind::NotFound,
            AccessRefusal::Viewer => ErrorKind::Forbidden,
            AccessRefusal::Archived => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(role: Option<Role>, project_archived: bool) -> ProjectAccess {
        ProjectAccess {
            role,
            project_archived,
        }
    }

    #[test]
    fn members_but_viewers_write_in_projects_that_are_not_archived() {
        for role in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(access(Some(role), false).require_writer(), Ok(role));
        }
        assert_eq!(
            access(Some(Role::Viewer), false).require_writer(),
            Err(AccessRefusal::Viewer)
        );
        assert_eq!(
            access(None, false).require_writer(),
            Err(AccessRefusal::NotMember)
        );
        assert_eq!(
            access(Some(Role::Owner), true).require_writer(),
            Err(AccessRefusal::Archived)
        );
    }

    #[test]
    fn a_stranger_is_told_nothing_even_of_an_archived_project() {
        assert_eq!(access(None, true).require_writer(), Err(AccessRefusal::NotMember));
    }
}
