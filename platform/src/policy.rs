//! The access policy: the one place that answers "may this caller do this?"
//! for people, project API keys and system roles.
//!
//! Three rules, each written once:
//! - **What a person may read** of a project is SQL: `visible_projects(viewer)`
//!   (migration `0025_access_policy.sql`), joined by every read instead of a
//!   membership join of its own, so the rule cannot drift between routes.
//! - **What a person may write** in a project is the domain's:
//!   `zekka_domain::shared::access::ProjectAccess`, checked by the aggregate
//!   that decides the command (a member who is not a viewer, in a project
//!   that is not archived — for agents, conversations, conflicts alike).
//! - **What a key or a system role allows** is here: [`authorize`] and
//!   [`authorize_person`], called by a route before any side effect.
//!
//! A key acts with the role of the member who issued it, so its writes go
//! through the same aggregate rule; this module only narrows it to the key's
//! project, scopes and agent.

use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_domain::user::SystemRole;

use crate::auth::Principal;
use crate::problem::Problem;
use crate::tokens::AccessClaims;

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Act with `scope` in `project_id`, for `agent_id` when the route acts
    /// for one agent. People pass here; their role is the aggregate's (for
    /// writes) or `visible_projects`' (for reads) to check.
    InProject {
        /// What kind of work.
        scope: Scope,
        /// In which project.
        project_id: Uuid,
        /// For which agent, when the route acts for one.
        agent_id: Option<Uuid>,
    },
    /// Set the price of a model (system admins).
    SetPrices,
    /// Rebuild, pause, resume or skip events of projections (system admins).
    OperateProjections,
    /// Read every stream of the audit, not only one's own projects'
    /// (auditors and admins).
    AuditEverything,
}

impl Action {
    /// Work with `scope` in `project_id`, for no particular agent.
    pub fn in_project(scope: Scope, project_id: Uuid) -> Self {
        Self::InProject {
            scope,
            project_id,
            agent_id: None,
        }
    }

    /// Work with `scope` in `project_id` for `agent_id`.
    pub fn for_agent(scope: Scope, project_id: Uuid, agent_id: Uuid) -> Self {
        Self::InProject {
            scope,
            project_id,
            agent_id: Some(agent_id),
        }
    }

    /// The system roles that allow a system-wide action (empty: none needed).
    fn system_roles(self) -> &'static [SystemRole] {
        match self {
            Action::InProject { .. } => &[],
            Action::SetPrices | Action::OperateProjections => &[SystemRole::Admin],
            Action::AuditEverything => &[SystemRole::Auditor, SystemRole::Admin],
        }
    }
}

/// Whether `principal` may do `action`.
///
/// # Errors
/// 403 naming what is missing: the system role, or what the key lacks (its
/// project, a scope, its agent). A key never holds a system action.
pub fn authorize(principal: &Principal, action: Action) -> Result<(), Problem> {
    match principal {
        Principal::Person(claims) => authorize_person(claims, action),
        Principal::Key(grant) => match action {
            Action::InProject {
                scope,
                project_id,
                agent_id,
            } => {
                if grant.project_id != project_id {
                    return Err(Problem::forbidden("this API key acts only in its own project"));
                }
                if !grant.allows(scope) {
                    return Err(Problem::forbidden(format!(
                        "this API key lacks the scope {}",
                        scope.as_str()
                    )));
                }
                match (grant.agent_id, agent_id) {
                    (Some(bound), Some(agent)) if bound != agent => {
                        Err(Problem::forbidden("this API key acts only for its own agent"))
                    }
                    _ => Ok(()),
                }
            }
            Action::SetPrices | Action::OperateProjections | Action::AuditEverything => Err(
                Problem::forbidden("API keys may not call this route; sign in as a person"),
            ),
        },
    }
}

/// Whether the signed-in person of `claims` may do `action`.
///
/// # Errors
/// 403 when the action needs a system role they do not hold.
pub fn authorize_person(claims: &AccessClaims, action: Action) -> Result<(), Problem> {
    let needed = action.system_roles();
    if needed.is_empty() || needed.iter().any(|role| claims.has_role(*role)) {
        return Ok(());
    }
    Err(Problem::forbidden(match action {
        Action::AuditEverything => "only auditors and admins may do this",
        _ => "this needs the system admin role",
    }))
}

/// Whether the person of `claims` may do `action`, as a yes or no (for
/// reads that widen, rather than refuse, with a role).
pub fn allows_person(claims: &AccessClaims, action: Action) -> bool {
    authorize_person(claims, action).is_ok()
}

#[cfg(test)]
mod tests;
