//! Invitations by email: an owner or admin invites an address with a role,
//! a one-time link is mailed to it, and the person holding that address,
//! verified, accepts it while signed in and joins the project. Each step is
//! an event on the project's stream (the audit shows it); only the token's
//! digest and the address's blind index are kept by the project.
//!
//! Tokens look like `zki_<project id>_<invitation id>_<secret>`.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zekka_domain::project::{NewInvitation, ProjectCommand, Role};
use zekka_domain::user::Email;
use zekka_event_store::consistency::ConsistencyToken;
use zekka_platform::secret_token;

use crate::app::accounts;
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::mailer::{self, Mail};
use crate::app::sessions;
use crate::app::state::CommandState;

/// What an invitation token starts with.
pub const INVITATION_PREFIX: &str = "zki_";

/// An invitation that was sent.
pub struct SentInvitation {
    /// Its id.
    pub invitation_id: Uuid,
    /// When its link stops working.
    pub expires_at: DateTime<Utc>,
    /// The write's position.
    pub token: ConsistencyToken,
}

/// A project joined by accepting an invitation.
pub struct Joined {
    /// The project.
    pub project_id: Uuid,
    /// The role the invitation gave (a member already keeps their own).
    pub role: Role,
    /// The write's position.
    pub token: ConsistencyToken,
}

/// Splits an invitation token into its project, invitation and secret.
pub fn parse_token(token: &str) -> Option<(Uuid, Uuid, &str)> {
    let rest = token.trim().strip_prefix(INVITATION_PREFIX)?;
    let mut parts = rest.splitn(3, '_');
    let project = Uuid::parse_str(parts.next()?).ok()?;
    let invitation = Uuid::parse_str(parts.next()?).ok()?;
    let secret = parts.next()?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((project, invitation, secret))
}

/// The project's current state.
async fn project_state(
    state: &CommandState,
    project_id: Uuid,
) -> Result<zekka_domain::project::Project, AppError> {
    state
        .projects
        .store()
        .state(&project_id.to_string())
        .await
        .map_err(AppError::from)
}

/// Invites `email` to `project_id` as `role`, on behalf of `actor` (an
/// owner or admin), and mails the link. A stranger's request is a 404 and
/// sends nothing; at most a few invitation mails go to one address an hour.
///
/// # Errors
/// 404/403/409 as the project refuses; 429 for a flooded address; 503/500
/// when the store fails.
pub async fn invite(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    email: &Email,
    role: Role,
    context: &CommandContext,
) -> Result<SentInvitation, AppError> {
    let project = project_state(state, project_id).await?;
    if project.role_of(actor).is_none() {
        return Err(AppError::not_found("project not found"));
    }
    if !accounts::mail_allowed(state, "invitation_mails", email.as_str()).await {
        return Err(AppError::too_many_requests(
            "too many invitations went to this address this hour; try again later",
            3600,
        ));
    }
    let secret = sessions::new_secret()?;
    let ttl = chrono::Duration::from_std(state.config.invitation_ttl).map_err(|e| AppError::internal(&e))?;
    let expires_at = Utc::now() + ttl;
    let invitation_id = Uuid::now_v7();
    let command = ProjectCommand::Invite {
        actor,
        invitation: NewInvitation {
            invitation_id,
            email: email.as_str().to_owned(),
            email_index: state.personal.email_index(email.as_str()),
            role,
            token_hash: secret_token::digest(&secret),
            expires_at,
        },
    };
    let token = dispatch::execute(
        &state.projects,
        &project_id.to_string(),
        command,
        "InviteMember",
        context,
    )
    .await?;
    let link = format!("{INVITATION_PREFIX}{project_id}_{invitation_id}_{secret}");
    mailer::enqueue(
        &state.pool,
        &Mail {
            recipient: email.as_str().to_owned(),
            subject: format!("You are invited to {} on Zekka", project.name),
            body: format!(
                "You are invited to join the project \"{}\" on Zekka as {}.\n\n\
                 Sign in (or register) with this address, verify it, and open this link \
                 before {}:\n{}/invitations/accept?token={link}\n\n\
                 If you did not expect this, ignore this mail.\n",
                project.name,
                role.as_str(),
                expires_at.format("%Y-%m-%d %H:%M UTC"),
                state.config.public_url
            ),
            purpose: "invitation",
        },
    )
    .await?;
    Ok(SentInvitation {
        invitation_id,
        expires_at,
        token,
    })
}

/// Takes back the pending invitation `invitation_id` of `project_id`.
///
/// # Errors
/// 404/403/410 as the project refuses; 503/500 when the store fails.
pub async fn revoke(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    invitation_id: Uuid,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    dispatch::execute(
        &state.projects,
        &project_id.to_string(),
        ProjectCommand::RevokeInvitation { actor, invitation_id },
        "RevokeInvitation",
        context,
    )
    .await
}

/// Accepts the invitation `token` names as `user_id`, who must hold the
/// invited address, verified.
///
/// # Errors
/// 400 for a token of the wrong shape; 404 for an unknown one; 403 for
/// another account (or an unverified address); 410 once expired, accepted
/// or taken back; 503/500 when the store fails.
pub async fn accept(
    state: &CommandState,
    token: &str,
    user_id: Uuid,
    context: &CommandContext,
) -> Result<Joined, AppError> {
    let (project_id, invitation_id, secret) = parse_token(token)
        .ok_or_else(|| AppError::refused(zekka_domain::ErrorKind::BadRequest, "the token is invalid"))?;
    let user = sessions::load_user(state, &user_id.to_string())
        .await?
        .ok_or_else(|| AppError::not_found("no such account"))?;
    let verified_email_index = user
        .email_verified
        .then(|| state.personal.email_index(&user.email));
    let command = ProjectCommand::AcceptInvitation {
        invitation_id,
        token_hash: secret_token::digest(secret),
        user_id,
        verified_email_index,
        now: Utc::now(),
    };
    let token = dispatch::execute(
        &state.projects,
        &project_id.to_string(),
        command,
        "AcceptInvitation",
        context,
    )
    .await?;
    let role = project_state(state, project_id)
        .await?
        .role_of(user_id)
        .ok_or_else(|| AppError::not_found("project not found"))?;
    Ok(Joined {
        project_id,
        role,
        token,
    })
}
