//! Invitations by email: an owner or admin invites an address with a role;
//! the person who holds that address, verified, accepts with the mailed
//! token and becomes a member in the same append.
//!
//! The project keeps each invitation's blind email index, never the
//! address: project snapshots hold no personal data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::NewInvitation;
use super::{Project, ProjectError, ProjectEvent, Role};

/// The most invitations one project may have pending at once.
pub const MAX_PENDING_INVITATIONS: usize = 100;

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationStatus {
    /// Sent, neither accepted nor taken back (it may have expired).
    Pending,
    /// Accepted.
    Accepted,
    /// Taken back.
    Revoked,
}

/// One invitation, as the project's decisions need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// The blind index of the invited address.
    pub email_index: String,
    /// The role on accepting.
    pub role: Role,
    /// Who sent it.
    pub invited_by: Uuid,
    /// Digest of the mailed token.
    pub token_hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Where it stands.
    pub status: InvitationStatus,
}

impl Project {
    /// Records a sent invitation (called from `apply`).
    pub(super) fn apply_invitation(&mut self, event: &ProjectEvent) {
        match event {
            ProjectEvent::InvitationSent {
                invitation_id,
                email_index,
                role,
                invited_by,
                token_hash,
                expires_at,
                ..
            } => {
                self.invitations.insert(
                    *invitation_id,
                    Invitation {
                        email_index: email_index.clone(),
                        role: *role,
                        invited_by: *invited_by,
                        token_hash: token_hash.clone(),
                        expires_at: *expires_at,
                        status: InvitationStatus::Pending,
                    },
                );
            }
            ProjectEvent::InvitationAccepted { invitation_id, .. } => {
                self.set_invitation_status(*invitation_id, InvitationStatus::Accepted);
            }
            ProjectEvent::InvitationRevoked { invitation_id, .. } => {
                self.set_invitation_status(*invitation_id, InvitationStatus::Revoked);
            }
            _ => {}
        }
    }

    fn set_invitation_status(&mut self, invitation_id: Uuid, status: InvitationStatus) {
        if let Some(invitation) = self.invitations.get_mut(&invitation_id) {
            invitation.status = status;
        }
    }

    pub(super) fn decide_invite(
        &self,
        actor: Uuid,
        invitation: NewInvitation,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        let actor_role = self.require_writable(actor, Role::can_manage, "owner or admin")?;
        if invitation.role == Role::Owner && actor_role != Role::Owner {
            return Err(ProjectError::NotAllowed {
                role: actor_role,
                needs: "owner",
            });
        }
        let pending = self
            .invitations
            .values()
            .filter(|i| i.status == InvitationStatus::Pending)
            .count();
        if pending >= MAX_PENDING_INVITATIONS {
            return Err(ProjectError::TooManyInvitations {
                max: MAX_PENDING_INVITATIONS,
            });
        }
        if self.invitations.contains_key(&invitation.invitation_id) {
            return Err(ProjectError::AlreadyExists);
        }
        Ok(vec![ProjectEvent::InvitationSent {
            invitation_id: invitation.invitation_id,
            email: invitation.email,
            email_index: invitation.email_index,
            role: invitation.role,
            invited_by: actor,
            token_hash: invitation.token_hash,
            expires_at: invitation.expires_at,
        }])
    }

    pub(super) fn decide_revoke_invitation(
        &self,
        actor: Uuid,
        invitation_id: Uuid,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        self.require_writable(actor, Role::can_manage, "owner or admin")?;
        let invitation = self
            .invitations
            .get(&invitation_id)
            .ok_or(ProjectError::UnknownInvitation)?;
        match invitation.status {
            InvitationStatus::Pending => Ok(vec![ProjectEvent::InvitationRevoked {
                invitation_id,
                revoked_by: actor,
            }]),
            InvitationStatus::Revoked => Ok(vec![]),
            InvitationStatus::Accepted => Err(ProjectError::InvitationGone("it was accepted")),
        }
    }

    pub(super) fn decide_accept_invitation(
        &self,
        invitation_id: Uuid,
        token_hash: &str,
        user_id: Uuid,
        verified_email_index: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        let invitation = self
            .invitations
            .get(&invitation_id)
            .filter(|i| self.id.is_some() && i.token_hash == token_hash)
            .ok_or(ProjectError::UnknownInvitation)?;
        if verified_email_index != Some(invitation.email_index.as_str()) {
            return Err(ProjectError::InvitationForSomeoneElse);
        }
        match invitation.status {
            InvitationStatus::Accepted => return Err(ProjectError::InvitationGone("it was accepted")),
            InvitationStatus::Revoked => return Err(ProjectError::InvitationGone("it was taken back")),
            InvitationStatus::Pending => {}
        }
        if invitation.expires_at <= now {
            return Err(ProjectError::InvitationGone("it has expired"));
        }
        // The sender's standing is checked now, not when it was sent: a
        // demoted admin's invitations lapse with their role.
        let sender_may = self.role_of(invitation.invited_by).is_some_and(|sender| {
            sender.can_manage() && (invitation.role != Role::Owner || sender == Role::Owner)
        });
        if !sender_may {
            return Err(ProjectError::InvitationGone("its sender may no longer invite"));
        }
        if self.status == super::ProjectStatus::Archived {
            return Err(ProjectError::Archived);
        }
        let mut events = vec![ProjectEvent::InvitationAccepted {
            invitation_id,
            user_id,
        }];
        if !self.members.contains_key(&user_id) {
            events.push(ProjectEvent::ProjectMemberAdded {
                user_id,
                role: invitation.role,
            });
        }
        Ok(events)
    }
}
