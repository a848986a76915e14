//! People: the signed-in user's account and sessions, another person's
//! name (for someone who shares a project with them), and a project's
//! member list.

use std::sync::Arc;
use zekka_event_store::database::CachedQueries;
use zekka_event_store::personal_data::ERASED;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_domain::user::SystemRole;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, BearerAuth};
use zekka_platform::input::{Text, TokenHeader, UuidFormat};
use zekka_platform::policy::{self, Action};

use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;
use crate::visibility;

/// Reading people.
pub struct UserQueryApi {
    state: Arc<QueryState>,
}

impl UserQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// The signed-in user.
#[derive(Debug, Object)]
struct Me {
    user_id: Uuid,
    email: String,
    display_name: String,
    email_verified: bool,
    /// System roles (`admin`, `auditor`) of this session.
    roles: Vec<String>,
    created_at: DateTime<Utc>,
}

/// Another person, as someone who shares a project with them sees them.
#[derive(Debug, Object)]
struct Person {
    id: Uuid,
    display_name: String,
    /// Only for system admins.
    email: Option<String>,
}

/// A member of a project.
#[derive(Debug, Object)]
struct Member {
    user_id: Uuid,
    /// `[erased]` for a person who was erased.
    display_name: String,
    /// `owner`, `admin`, `member` or `viewer`.
    role: String,
    joined_at: DateTime<Utc>,
}

/// One page of a project's members, by user id.
#[derive(Debug, Object)]
struct MemberPage {
    items: Vec<Member>,
    next_cursor: Option<String>,
}

/// A session of the signed-in user: one sign-in and its refreshes.
#[derive(Debug, Object)]
struct SessionView {
    id: Uuid,
    created_at: DateTime<Utc>,
    /// The sign-in or the last refresh of its tokens.
    last_used_at: DateTime<Utc>,
    /// The address it signed in from.
    client_ip: Option<String>,
    /// The user agent it signed in with.
    user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    current: bool,
}

/// The signed-in user's open sessions, newest first (one page).
#[derive(Debug, Object)]
struct SessionPage {
    items: Vec<SessionView>,
    next_cursor: Option<String>,
}

/// An invitation not yet accepted, taken back or expired.
#[derive(Debug, Object)]
struct PendingInvitation {
    id: Uuid,
    email: String,
    role: String,
    invited_by: Uuid,
    expires_at: DateTime<Utc>,
}

/// One page of a project's pending invitations, by id.
#[derive(Debug, Object)]
struct InvitationPage {
    items: Vec<PendingInvitation>,
    next_cursor: Option<String>,
}

/// The most sessions listed: far more than anyone keeps open.
const SESSIONS_LISTED: i64 = 200;

#[OpenApi(prefix_path = "/api/v1", tag = "QueryTags::Users")]
impl UserQueryApi {
    /// The signed-in user's account.
    #[oai(path = "/users/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Me>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["users"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let row = client
            .query_opt_cached(
                "SELECT user_id, email, display_name, email_verified, created_at
                   FROM rm_users WHERE user_id = $1",
                &[&auth.0.user_id],
            )
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("no such account"))?;
        Ok(Json(Me {
            user_id: row.try_get(0).map_err(Problem::from_db)?,
            email: row.try_get(1).map_err(Problem::from_db)?,
            display_name: row.try_get(2).map_err(Problem::from_db)?,
            email_verified: row.try_get(3).map_err(Problem::from_db)?,
            roles: auth.0.roles.clone(),
            created_at: row.try_get(4).map_err(Problem::from_db)?,
        }))
    }

    /// The signed-in user's open sessions, newest first: where each signed
    /// in from and when it was last used. End one with
    /// `DELETE /users/me/sessions/{session_id}`.
    #[oai(path = "/users/me/sessions", method = "get", operation_id = "listMySessions")]
    async fn sessions(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<SessionPage>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["users"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let current = auth.0.session_id;
        let items = rows::query_map(
            &client,
            "SELECT s.session_id, s.started_at, s.last_used_at, s.client_ip, s.user_agent
               FROM rm_sessions s JOIN rm_users u USING (user_id)
              WHERE s.user_id = $1 AND s.expires_at > now()
                AND NOT (u.sessions_revoked_at IS NOT NULL AND s.started_at <= u.sessions_revoked_at
                         AND s.session_id IS DISTINCT FROM u.kept_session)
              ORDER BY s.started_at DESC, s.session_id DESC
              LIMIT $2",
            &[&auth.0.user_id, &SESSIONS_LISTED],
            |row| {
                let id: Uuid = row.try_get(0)?;
                Ok(SessionView {
                    id,
                    created_at: row.try_get(1)?,
                    last_used_at: row.try_get(2)?,
                    client_ip: row.try_get(3)?,
                    user_agent: row.try_get(4)?,
                    current: current == Some(id),
                })
            },
        )
        .await?;
        Ok(Json(SessionPage {
            items,
            next_cursor: None,
        }))
    }

    /// A person who shares a project with the caller: their id and name
    /// (system admins also see their email). Anyone else is a 404.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn person(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Person>, Problem> {
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["users", "projects"],
            )
            .await?;
        let admin = auth.0.has_role(SystemRole::Admin);
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let row = client
            .query_opt_cached(
                "SELECT u.display_name, u.email FROM rm_users u
                  WHERE u.user_id = $2 AND ($3 OR shares_a_project($1, u.user_id))",
                &[&auth.0.user_id, &id.0, &admin],
            )
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("user not found"))?;
        Ok(Json(Person {
            id: id.0,
            display_name: row.try_get(0).map_err(Problem::from_db)?,
            email: admin
                .then(|| row.try_get(1))
                .transpose()
                .map_err(Problem::from_db)?,
        }))
    }

    /// A project's members with their names and roles, by user id. Members
    /// and the project's API keys with `read` see it; anyone else is told
    /// the project does not exist.
    #[oai(
        path = "/projects/:id/members",
        method = "get",
        operation_id = "listProjectMembers",
        tag = "QueryTags::Projects"
    )]
    async fn members(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<MemberPage>, Problem> {
        policy::authorize(&auth.0, Action::in_project(Scope::Read, id.0))?;
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        let viewer = auth.0.acting_user();
        self.state
            .catch_up(viewer, consistency_token.0.as_deref(), &["projects", "users"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        visibility::member(&client, viewer, id.0).await?;
        let members = rows::query_map(
            &client,
            "SELECT m.user_id, coalesce(u.display_name, $4), m.role, m.added_at
               FROM project_members($1, $2) m LEFT JOIN rm_users u USING (user_id)
              WHERE ($3::uuid IS NULL OR m.user_id > $3)
              ORDER BY m.user_id
              LIMIT $5",
            &[&viewer, &id.0, &after, &ERASED, &(limit + 1)],
            |row| {
                Ok(Member {
                    user_id: row.try_get(0)?,
                    display_name: row.try_get(1)?,
                    role: row.try_get(2)?,
                    joined_at: row.try_get(3)?,
                })
            },
        )
        .await?;
        let (items, next_cursor) = paging::page(members, limit, |m| m.user_id.to_string());
        Ok(Json(MemberPage { items, next_cursor }))
    }

    /// A project's pending invitations (owners and admins), by id.
    #[oai(
        path = "/projects/:id/invitations",
        method = "get",
        operation_id = "listInvitations",
        tag = "QueryTags::Projects"
    )]
    async fn invitations(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<InvitationPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        let viewer = auth.0.user_id;
        self.state
            .catch_up(viewer, consistency_token.0.as_deref(), &["projects"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        visibility::manager(&client, viewer, id.0, "invitations").await?;
        let pending = rows::query_map(
            &client,
            "SELECT invitation_id, email, role, invited_by, expires_at FROM rm_invitations
              WHERE project_id = $1 AND expires_at > now()
                AND ($2::uuid IS NULL OR invitation_id > $2)
              ORDER BY invitation_id
              LIMIT $3",
            &[&id.0, &after, &(limit + 1)],
            |row| {
                Ok(PendingInvitation {
                    id: row.try_get(0)?,
                    email: row.try_get(1)?,
                    role: row.try_get(2)?,
                    invited_by: row.try_get(3)?,
                    expires_at: row.try_get(4)?,
                })
            },
        )
        .await?;
        let (items, next_cursor) = paging::page(pending, limit, |i| i.id.to_string());
        Ok(Json(InvitationPage { items, next_cursor }))
    }
}
