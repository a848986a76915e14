//! `POST /api/v1/auth/register` and `POST /api/v1/auth/login`.

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::user::{DisplayName, Email, Password, UserCommand};
use zekka_platform::{Problem, password};

use super::CommandTags;
use crate::dispatch::{self, CommandContext};
use crate::state::CommandState;

/// Registration and sign-in.
pub struct AuthApi {
    state: Arc<CommandState>,
}

impl AuthApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// A new account.
#[derive(Debug, Object)]
struct RegisterRequest {
    /// The email to sign in with; one account per email.
    email: String,
    /// At least 12 characters.
    password: String,
    /// The name other people see.
    display_name: String,
}

/// The account that was created.
#[derive(Debug, Object)]
struct Registered {
    /// The new user's id.
    user_id: Uuid,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<Registered>, #[oai(header = "X-Consistency-Token")] String),
}

/// Credentials.
#[derive(Debug, Object)]
struct LoginRequest {
    /// The account's email.
    email: String,
    /// Its password.
    password: String,
}

/// A signed-in session.
#[derive(Debug, Object)]
struct LoginResponse {
    /// The access token, for `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// The signed-in user.
    user_id: Uuid,
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "CommandTags::Auth")]
impl AuthApi {
    /// Create an account.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, Problem> {
        let (email, display_name, password) = match (
            Email::parse(&body.email),
            DisplayName::parse(&body.display_name),
            Password::parse(&body.password),
        ) {
            (Ok(e), Ok(d), Ok(p)) => (e, d, p),
            (e, d, p) => return Err(dispatch::invalid([e.err(), d.err(), p.err()])),
        };
        let password_hash = password::hash(password)
            .await
            .map_err(|e| Problem::internal(&e))?;
        let user_id = Uuid::now_v7();
        let command = UserCommand::Register {
            user_id,
            email,
            display_name,
            password_hash,
        };
        let context = CommandContext::of(req, Some(user_id));
        let token = dispatch::execute(
            &self.state.users,
            &self.state.pool,
            &user_id.to_string(),
            command,
            "RegisterUser",
            &context,
        )
        .await
        .map_err(|problem| {
            // The only conflict a brand-new user id can meet is the unique
            // email index on the event store.
            if problem.status() == StatusCode::CONFLICT {
                Problem::conflict("an account with this email already exists")
            } else {
                problem
            }
        })?;
        Ok(RegisterResponse::Created(
            Json(Registered {
                user_id,
                consistency_token: token.to_string(),
            }),
            token.to_string(),
        ))
    }

    /// Sign in with email and password.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, body: Json<LoginRequest>) -> Result<Json<LoginResponse>, Problem> {
        let refused = || Problem::unauthorized("invalid email or password");
        let user = match Email::parse(&body.email) {
            Ok(email) => self.find_user(&email).await?,
            Err(_) => None,
        };
        let (user_id, hash) = match user {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        if !password::verify(body.password.clone(), hash).await {
            return Err(refused());
        }
        let user_id = user_id.ok_or_else(refused)?;
        let issued = self
            .state
            .signer
            .issue(user_id)
            .map_err(|e| Problem::internal(e.as_ref()))?;
        tracing::info!(%user_id, "signed in");
        Ok(Json(LoginResponse {
            access_token: issued.token,
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in,
            user_id,
        }))
    }
}

impl AuthApi {
    /// The id and password hash of the account registered with `email`.
    /// Reads the event store itself (through the unique email index), so a
    /// sign-in right after registration never misses the account.
    async fn find_user(&self, email: &Email) -> Result<Option<(Uuid, String)>, Problem> {
        use cqrs_es::EventStore;

        let id: Option<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events
              WHERE aggregate_type = 'User' AND event_type = 'UserRegistered'
                AND payload -> 'UserRegistered' ->> 'email' = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.state.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        let Some(id) = id else { return Ok(None) };
        let context = self
            .state
            .user_store
            .load_aggregate(&id)
            .await
            .map_err(dispatch::refused)?;
        let user = context.aggregate;
        Ok(user.id.map(|user_id| (user_id, user.password_hash)))
    }
}
