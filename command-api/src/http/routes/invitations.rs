//! Invitations by email: send and take back (owners and admins), accept
//! (the invited person, signed in with the invited address, verified).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::project::Role;
use zekka_domain::user::Email;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{EmailAddress, OneOf, Text};

use super::{CommandTags, NoContent};
use crate::app::invitations;
use crate::app::state::CommandState;
use crate::http::{self, limits};

/// Invitations.
pub struct InvitationApi {
    state: Arc<CommandState>,
}

impl InvitationApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// Whom to invite, as what.
#[derive(Debug, Object)]
struct InviteRequest {
    /// The address the link is mailed to; only its owner, verified, can accept.
    email: Text<EmailAddress>,
    /// The role on accepting (only owners invite owners).
    role: Text<OneOf<Role>>,
}

/// An invitation that was sent.
#[derive(Debug, Object)]
struct SentInvitation {
    id: Uuid,
    email: String,
    role: String,
    /// When the link stops working.
    expires_at: DateTime<Utc>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum InviteResponse {
    /// Sent: the mail is on its way.
    #[oai(status = 201)]
    Created(
        Json<SentInvitation>,
        #[oai(header = "X-Consistency-Token")] String,
    ),
}

/// The token from the invitation mail.
#[derive(Debug, Object)]
struct AcceptRequest {
    token: Text,
}

/// The project joined.
#[derive(Debug, Object)]
struct Joined {
    project_id: Uuid,
    /// The caller's role in it now.
    role: String,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum AcceptResponse {
    /// Joined (or already a member).
    #[oai(status = 200)]
    Ok(Json<Joined>, #[oai(header = "X-Consistency-Token")] String),
}

#[OpenApi(prefix_path = "/api/v1", tag = "CommandTags::Projects")]
impl InvitationApi {
    /// Invite someone by email (owners and admins): a mail with a one-time
    /// link goes to the address; it works for `INVITATION_TTL_SECONDS`.
    #[oai(
        path = "/projects/:id/invitations",
        method = "post",
        operation_id = "inviteMember"
    )]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<InviteRequest>,
    ) -> Result<InviteResponse, Problem> {
        let state = &self.state;
        let actor = auth.0.user_id;
        limits::writes(state, actor).await?;
        let email = Email::parse(&body.email).map_err(Problem::invalid_field)?;
        let role: Role = body.role.parse().map_err(Problem::invalid_field)?;
        let context = http::context(req, Some(actor));
        let sent = invitations::invite(state, id.0, actor, &email, role, &context).await?;
        let token = sent.token.to_string();
        Ok(InviteResponse::Created(
            Json(SentInvitation {
                id: sent.invitation_id,
                email: email.as_str().to_owned(),
                role: role.as_str().to_owned(),
                expires_at: sent.expires_at,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Take back a pending invitation (owners and admins): its link stops working.
    #[oai(
        path = "/projects/:id/invitations/:invitation_id",
        method = "delete",
        operation_id = "revokeInvitation"
    )]
    async fn revoke(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let state = &self.state;
        let actor = auth.0.user_id;
        limits::writes(state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = invitations::revoke(state, id.0, actor, invitation_id.0, &context).await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// Accept an invitation with the token from its mail, signed in with
    /// the invited address, verified (another account: 403; expired, taken
    /// back or used: 410).
    #[oai(
        path = "/invitations/accept",
        method = "post",
        operation_id = "acceptInvitation"
    )]
    async fn accept(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<AcceptRequest>,
    ) -> Result<AcceptResponse, Problem> {
        let state = &self.state;
        let user_id = auth.0.user_id;
        limits::auth_requests(state, req).await?;
        let context = http::context(req, Some(user_id));
        let joined = invitations::accept(state, &body.token, user_id, &context).await?;
        let token = joined.token.to_string();
        Ok(AcceptResponse::Ok(
            Json(Joined {
                project_id: joined.project_id,
                role: joined.role.as_str().to_owned(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}
