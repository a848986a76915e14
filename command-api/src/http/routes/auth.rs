//! Registration, sign-in, session refresh and sign-out.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::session::{RevocationReason, SessionCommand, SessionError};
use zekka_domain::user::{DisplayName, Email, Password, UserCommand};
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{EmailAddress, Label, NewPassword, Plain, Text};
use zekka_platform::{Problem, password};

use super::CommandTags;
use crate::app::accounts;
use crate::app::dispatch;
use crate::app::lockout;
use crate::app::sessions;
use crate::app::sessions::parse_refresh_token;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Registration, sign-in, refresh and sign-out.
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
    email: Text<EmailAddress>,
    /// At least 12 characters.
    password: Text<NewPassword>,
    /// The name other people see.
    display_name: Text<Label<{ DisplayName::MAX_CHARS }>>,
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
    /// The account was created; a verification mail is on its way.
    #[oai(status = 201)]
    Created(Json<Registered>, #[oai(header = "X-Consistency-Token")] String),
}

/// Credentials.
#[derive(Debug, Object)]
struct LoginRequest {
    /// The account's email.
    email: Text<Plain>,
    /// Its password.
    password: Text,
}

/// A signed-in session.
#[derive(Debug, Object)]
struct LoginResponse {
    /// The access token, for `Authorization: Bearer …` (15 minutes).
    access_token: String,
    /// Trade it at `/auth/refresh-token` for a new pair (7 days, one use).
    refresh_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// The signed-in user.
    user_id: Uuid,
}

/// A refresh token to trade.
#[derive(Debug, Object)]
struct RefreshRequest {
    refresh_token: Text,
}

/// A new pair of tokens; the presented refresh token no longer works.
#[derive(Debug, Object)]
struct RefreshResponse {
    access_token: String,
    refresh_token: String,
    token_type: String,
    expires_in: u64,
}

/// What to sign out besides the current session.
#[derive(Debug, Object)]
struct LogoutRequest {
    /// A refresh token of the caller's to revoke as well.
    refresh_token: Option<Text>,
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// Signed out: the access token and its session are revoked.
    #[oai(status = 204)]
    Done,
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
        let limits = self.state.config.limits;
        self.state
            .limiter
            .hit(
                "register",
                &zekka_platform::http::client_ip(req),
                limits.register_per_ip,
                "registrations",
            )
            .await?;
        let (email, display_name, password) = (
            Email::parse(&body.email),
            DisplayName::parse(&body.display_name),
            Password::parse(&body.password),
        )
            .all()
            .map_err(problem::invalid)?;
        let password_hash = password::hash(password)
            .await
            .map_err(|e| Problem::internal(&e))?;
        let user_id = Uuid::now_v7();
        let address = email.as_str().to_owned();
        // A live account's address takes the first generation and meets the
        // unique index: answered below as "exists", like any conflict.
        let email_generation = match sessions::email_holder(&self.state, &address).await? {
            sessions::EmailHolder::Free(generation) => generation,
            sessions::EmailHolder::Live(_) => 0,
        };
        let command = UserCommand::Register {
            user_id,
            email,
            display_name,
            password_hash,
            email_generation,
        };
        let context = http::context(req, Some(user_id));
        let registered = dispatch::execute(
            &self.state.users,
            &user_id.to_string(),
            command,
            "RegisterUser",
            &context,
        )
        .await;
        let token = match registered {
            Ok(token) => {
                // The account exists now; a lost verification mail can be asked for again.
                if let Err(problem) =
                    accounts::send_email_verification(&self.state, user_id, &address, &context).await
                {
                    tracing::warn!(%user_id, error = %problem, "could not send the verification mail");
                }
                token
            }
            // The only conflict a brand-new user id can meet is the unique
            // email index on the event store: the address has an account.
            // Answered as a success, so registering tells no one which
            // addresses have accounts (security review F9); the mailbox's
            // owner hears of it instead.
            Err(error) if error.is_conflict() => {
                accounts::tell_of_second_registration(&self.state, &address).await;
                dispatch::head_position(&self.state.reads).await?
            }
            Err(error) => return Err(error.into()),
        };
        Ok(RegisterResponse::Created(
            Json(Registered {
                user_id,
                consistency_token: token.to_string(),
            }),
            token.to_string(),
        ))
    }

    /// Sign in with email and password.
    ///
    /// Wrong credentials are a 401 whether or not the email has an account.
    /// Five failures in a row lock the account (429 with `Retry-After`),
    /// and an email with no account locks the same way.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, req: &Request, body: Json<LoginRequest>) -> Result<Json<LoginResponse>, Problem> {
        let state = &self.state;
        let limits = state.config.limits;
        let ip = zekka_platform::http::client_ip(req);
        let email = Email::for_lookup(&body.email).map_err(Problem::invalid_field)?;
        // Counted before the password is checked, atomically (security
        // review F3): the address's failures, and the email's guesses.
        state
            .limiter
            .hit(
                "login_failures",
                &ip,
                limits.login_failures_per_ip,
                "failed sign-ins from your address",
            )
            .await?;
        lockout::admit_guess(state, &email).await?;
        let now = Utc::now();
        let account = sessions::find_user_by_email(state, &email).await?;
        if let Some(remaining) = lockout::lock_remaining(state, account.as_ref(), &email, now).await? {
            return Err(lockout::locked(remaining).into());
        }
        let hash = account.as_ref().map(|user| user.password_hash.clone());
        let verified = password::verify(body.password.as_str().to_owned(), hash).await;
        let context = http::context(req, account.as_ref().and_then(|u| u.id));
        if !verified {
            lockout::record_login_failure(state, account.as_ref(), &email, now, &context).await?;
            return Err(Problem::unauthorized("invalid email or password"));
        }
        state.limiter.release("login_failures", &ip).await;
        lockout::clear_guesses(state, &email).await;
        let user = account.ok_or_else(|| Problem::unauthorized("invalid email or password"))?;
        let user_id = user
            .id
            .ok_or_else(|| Problem::unauthorized("invalid email or password"))?;
        if user.failed_logins > 0 || user.locked_until.is_some() {
            dispatch::execute(
                &state.users,
                &user_id.to_string(),
                UserCommand::RecordLoginSuccess,
                "RecordLoginSuccess",
                &context,
            )
            .await?;
        }
        let session = sessions::start_session(state, &user, &context).await?;
        tracing::info!(%user_id, session_id = %session.session_id, "signed in");
        Ok(Json(LoginResponse {
            access_token: session.access.token,
            refresh_token: session.refresh_token,
            token_type: "Bearer".to_owned(),
            expires_in: session.access.expires_in,
            user_id,
        }))
    }

    /// Trade a refresh token for a new access and refresh token.
    ///
    /// Each refresh token works once. Presenting one that was already traded
    /// revokes its whole session (someone else may hold it) and answers 401.
    #[oai(path = "/refresh-token", method = "post", operation_id = "refreshToken")]
    async fn refresh(
        &self,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Result<Json<RefreshResponse>, Problem> {
        let state = &self.state;
        limits::auth_requests(state, req).await?;
        let refused = || Problem::unauthorized("the refresh token is invalid or expired");
        let (session_id, secret) = parse_refresh_token(&body.refresh_token).ok_or_else(refused)?;
        let session = sessions::load_session(state, session_id)
            .await?
            .ok_or_else(refused)?;
        let user_id = session.user_id.ok_or_else(refused)?;
        let user = sessions::load_user(state, &user_id.to_string())
            .await?
            .ok_or_else(refused)?;
        let context = http::context(req, Some(user_id));
        if user.ended_session(session_id, session.started_at) {
            sessions::revoke_session(state, session_id, RevocationReason::PasswordReset, &context).await?;
            return Err(refused());
        }
        let presented_hash = zekka_platform::secret_token::digest(secret);
        let (refresh_token, new_hash) = sessions::next_refresh_token(session_id)?;
        let now = Utc::now();
        let started_at = session.started_at.ok_or_else(refused)?;
        if sessions::session_end(state, started_at)? <= now {
            // Past its absolute lifetime: the person signs in again.
            return Err(refused());
        }
        let command = SessionCommand::Refresh {
            presented_hash,
            new_hash,
            expires_at: sessions::refresh_expiry(state, now, started_at)?,
            now,
        };
        let id = session_id.to_string();
        // On a concurrent write `run` decides again, and the second decision
        // sees the token as already rotated, which is reuse.
        let outcome = dispatch::run(&state.sessions, &id, command, "RefreshSession", &context).await;
        match outcome {
            Ok(_) => {}
            Err(AggregateError::UserError(SessionError::TokenReused)) => {
                tracing::warn!(%session_id, %user_id, "refresh token reuse: revoking the session");
                sessions::revoke_session(state, session_id, RevocationReason::RefreshTokenReuse, &context)
                    .await?;
                return Err(Problem::unauthorized(
                    "this refresh token was already used; the session has been revoked",
                ));
            }
            Err(AggregateError::UserError(_)) => return Err(refused()),
            Err(other) => return Err(problem::refused(other)),
        }
        let roles = sessions::system_roles(state, &user);
        let access = state
            .signer
            .issue(user_id, Some(session_id), &roles)
            .map_err(|e| Problem::internal(e.as_ref()))?;
        Ok(Json(RefreshResponse {
            access_token: access.token,
            refresh_token,
            token_type: "Bearer".to_owned(),
            expires_in: access.expires_in,
        }))
    }

    /// Sign out: revokes the access token, its session and, when given,
    /// another refresh token of the caller's.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Option<LogoutRequest>>,
    ) -> Result<LogoutResponse, Problem> {
        let state = &self.state;
        let claims = &auth.0;
        let context = http::context(req, Some(claims.user_id));
        state
            .revocations
            .revoke_token(claims)
            .await
            .map_err(|e| Problem::unavailable(e.to_string(), 2))?;
        if let Some(session_id) = claims.session_id {
            sessions::revoke_session(state, session_id, RevocationReason::Logout, &context).await?;
        }
        let extra = body
            .0
            .and_then(|b| b.refresh_token)
            .and_then(|t| parse_refresh_token(&t).map(|(id, _)| id));
        if let Some(session_id) = extra.filter(|id| Some(*id) != claims.session_id)
            && let Some(session) = sessions::load_session(state, session_id).await?
            && session.user_id == Some(claims.user_id)
        {
            sessions::revoke_session(state, session_id, RevocationReason::Logout, &context).await?;
        }
        Ok(LogoutResponse::Done)
    }
}
