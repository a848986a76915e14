//! File locks on the context bus (CONTRACT.md, "Agent integration"): an
//! agent locks a file before changing it. The bus (`zekka_platform::locks`)
//! decides; each acquisition and release is an event on the agent, so
//! auditors see who held what, and the fencing tokens survive a Redis
//! restart. Another agent's attempt on a held file answers 409 and reports
//! one conflict of kind `code` per contention episode.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::agent::{Agent, AgentCommand, FilePath};
use zekka_domain::conflict::{Conflict, ConflictCommand, ConflictKind};
use zekka_domain::project::Scope;
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::shared::text::Detail;
use zekka_event_store::lookups::locks;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, Principal};
use zekka_platform::input::{Bounded, Label, Text};
use zekka_platform::locks::{Attempt, Lock};
use zekka_platform::policy::{self, Action};

use super::{CommandTags, NoContent};
use crate::app::access;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// The longest file path accepted, in characters.
const MAX_PATH_CHARS: usize = 1024;
/// A lock's life when none is asked for.
const DEFAULT_TTL_SECONDS: i64 = 300;
/// The longest life a lock may ask for (an hour).
const MAX_TTL_SECONDS: i64 = 3600;

/// Taking and releasing file locks.
pub struct LockCommandApi {
    state: Arc<CommandState>,
}

impl LockCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    /// `principal`'s standing in `project` for agent `agent`, which must
    /// be the project's; a key needs `locks:write` (and to be that agent's).
    async fn access(
        &self,
        principal: &Principal,
        project: Uuid,
        agent: Uuid,
    ) -> Result<ProjectAccess, Problem> {
        policy::authorize(principal, Action::for_agent(Scope::LocksWrite, project, agent))?;
        let access = access::project_access(&self.state, project, principal.acting_user()).await?;
        if access.role.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        if access::owning_project(&self.state, "Agent", agent).await? != Some(project) {
            return Err(Problem::invalid_field(FieldError::new(
                "agent_id",
                "no agent of this project has this id",
            )));
        }
        // Decided before the bus is touched: a refused caller takes or
        // frees no lock (security review F5).
        access
            .require_writer()
            .map_err(|refusal| problem::refused(cqrs_es::AggregateError::UserError(refusal)))?;
        Ok(access)
    }

    /// Records `command` on `agent`'s stream.
    async fn record(
        &self,
        req: &Request,
        principal: &Principal,
        agent: Uuid,
        command: AgentCommand,
        name: &'static str,
    ) -> Result<String, Problem> {
        let context = http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key());
        Ok(
            dispatch::execute::<Agent>(&self.state.agents, &agent.to_string(), command, name, &context)
                .await?
                .to_string(),
        )
    }

    /// The highest fencing token ever recorded for `file_path` in `project`.
    async fn recorded_floor(&self, project: Uuid, file_path: &str) -> Result<i64, Problem> {
        let client = self.state.lookup_connection().await?;
        Ok(locks::fencing_floor(&client, project, file_path).await?)
    }

    /// Reports the contention of `contender` with `held`, once per episode;
    /// answers the conflict's id when this attempt reported it.
    async fn report_contention(
        &self,
        req: &Request,
        principal: &Principal,
        project: Uuid,
        held: &Lock,
        contender: Uuid,
        access: ProjectAccess,
    ) -> Result<Option<Uuid>, Problem> {
        let first = self
            .state
            .locks
            .first_contention(held, contender)
            .await
            .map_err(|e| Problem::unavailable(e.to_string(), 2))?;
        if !first {
            return Ok(None);
        }
        let conflict_id = Uuid::now_v7();
        let description = Detail::parse(
            "description",
            &format!(
                "agent {contender} wants to change {} while agent {} holds its lock",
                held.file_path, held.agent_id
            ),
        )
        .map_err(Problem::invalid_field)?;
        let command = ConflictCommand::Report {
            conflict_id,
            project_id: project,
            kind: ConflictKind::Code,
            description,
            agent_ids: vec![held.agent_id, contender],
            file_path: Some(held.file_path.clone()),
            actor: principal.acting_user(),
            access,
        };
        let context = http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key());
        dispatch::execute::<Conflict>(
            &self.state.conflicts,
            &conflict_id.to_string(),
            command,
            "ReportConflict",
            &context,
        )
        .await?;
        Ok(Some(conflict_id))
    }
}

/// A lock to take.
#[derive(Debug, Object)]
struct AcquireRequest {
    /// The file, as the agents name it: 1 to 1024 characters.
    file_path: Text<Label<MAX_PATH_CHARS>>,
    /// The agent that will change it.
    agent_id: Uuid,
    /// How long the lock lives unless released: 1 to 3600 (default 300).
    ttl_seconds: Option<Bounded<1, MAX_TTL_SECONDS>>,
}

/// A lock held.
#[derive(Debug, Object)]
struct LockTaken {
    lock_id: Uuid,
    file_path: String,
    agent_id: Uuid,
    /// Larger than every earlier lock's on this file.
    fencing_token: i64,
    expires_at: DateTime<Utc>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum AcquireResponse {
    /// The lock is the agent's.
    #[oai(status = 201)]
    Created(Json<LockTaken>, #[oai(header = "X-Consistency-Token")] String),
    /// The agent holds it already (nothing changed).
    #[oai(status = 200)]
    Held(Json<LockTaken>),
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "CommandTags::Agents")]
impl LockCommandApi {
    /// Lock a file for an agent. Held by another agent: 409 naming the
    /// holder, and a conflict (kind `code`) is reported once per episode.
    #[oai(path = "/:id/locks", method = "post", operation_id = "acquireLock")]
    async fn acquire(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<AcquireRequest>,
    ) -> Result<AcquireResponse, Problem> {
        let principal = &auth.0;
        limits::writes(&self.state, principal.acting_user()).await?;
        let ttl = body.ttl_seconds.map_or(DEFAULT_TTL_SECONDS, |t| t.0);
        let ttl = if (1..=MAX_TTL_SECONDS).contains(&ttl) {
            Ok(ttl)
        } else {
            Err(FieldError::new("ttl_seconds", "must be between 1 and 3600"))
        };
        let (file_path, ttl) = (FilePath::parse("file_path", &body.file_path), ttl)
            .all()
            .map_err(problem::invalid)?;
        let file_path = file_path.as_str();
        let agent = body.agent_id;
        let access = self.access(principal, id.0, agent).await?;
        let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(300));
        let bus = &self.state.locks;
        let unavailable = |e: zekka_platform::ephemeral::Unavailable| Problem::unavailable(e.to_string(), 2);
        let mut attempt = bus
            .acquire(id.0, file_path, agent, ttl, None)
            .await
            .map_err(unavailable)?;
        if attempt == Attempt::NeedsFloor {
            let floor = self.recorded_floor(id.0, file_path).await?;
            attempt = bus
                .acquire(id.0, file_path, agent, ttl, Some(floor))
                .await
                .map_err(unavailable)?;
        }
        match attempt {
            Attempt::Granted(lock) => {
                let command = AgentCommand::RecordLockAcquired {
                    lock_id: lock.lock_id,
                    file_path: lock.file_path.clone(),
                    fencing_token: lock.fencing_token,
                    expires_at: lock.expires_at,
                    access,
                };
                let token = match self.record(req, principal, agent, command, "AcquireLock").await {
                    Ok(token) => token,
                    Err(problem) => {
                        // Not recorded, not held: the token is never shown.
                        let _ = bus.release(id.0, lock.lock_id).await;
                        return Err(problem);
                    }
                };
                Ok(AcquireResponse::Created(Json(taken(&lock, &token)), token))
            }
            Attempt::Held(held) if held.agent_id == agent => {
                Ok(AcquireResponse::Held(Json(taken(&held, ""))))
            }
            Attempt::Held(held) => {
                let conflict = self
                    .report_contention(req, principal, id.0, &held, agent, access)
                    .await?;
                let mut problem = Problem::conflict(format!(
                    "{} is locked by agent {} until {}",
                    held.file_path,
                    held.agent_id,
                    held.expires_at.to_rfc3339()
                ))
                .with_extension("holder_agent_id", held.agent_id.to_string())
                .with_extension("expires_at", held.expires_at.to_rfc3339());
                if let Some(conflict) = conflict {
                    problem = problem.with_extension("conflict_id", conflict.to_string());
                }
                Err(problem)
            }
            Attempt::NeedsFloor => Err(Problem::unavailable("the lock counter could not be restored", 2)),
        }
    }

    /// Release a lock. A key bound to an agent releases only its agent's.
    #[oai(path = "/:id/locks/:lock_id", method = "delete", operation_id = "releaseLock")]
    async fn release(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        lock_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let principal = &auth.0;
        limits::writes(&self.state, principal.acting_user()).await?;
        let bus = &self.state.locks;
        let unavailable = |e: zekka_platform::ephemeral::Unavailable| Problem::unavailable(e.to_string(), 2);
        let Some(lock) = bus.get(id.0, lock_id.0).await.map_err(unavailable)? else {
            return Err(Problem::not_found("no lock with this id is held in this project"));
        };
        let access = self.access(principal, id.0, lock.agent_id).await?;
        if bus.release(id.0, lock_id.0).await.map_err(unavailable)?.is_none() {
            return Err(Problem::not_found("no lock with this id is held in this project"));
        }
        let command = AgentCommand::RecordLockReleased {
            lock_id: lock.lock_id,
            file_path: lock.file_path.clone(),
            access,
        };
        let token = self
            .record(req, principal, lock.agent_id, command, "ReleaseLock")
            .await?;
        Ok(NoContent::Done(token))
    }
}

fn taken(lock: &Lock, token: &str) -> LockTaken {
    LockTaken {
        lock_id: lock.lock_id,
        file_path: lock.file_path.clone(),
        agent_id: lock.agent_id,
        fencing_token: lock.fencing_token,
        expires_at: lock.expires_at,
        consistency_token: token.to_owned(),
    }
}
