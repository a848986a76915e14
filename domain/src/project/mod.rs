//! The Project aggregate: a piece of work with an owner, members with roles,
//! an optional budget, and a workflow that passes ten stages in order.
//!
//! # Layout
//! - [`values`]: validated values (name, budget, stage, role).
//! - [`command`]: what may be asked of a project.
//! - [`event`]: what happened to it.
//! - [`error`]: why a command is refused.

pub mod command;
pub mod error;
pub mod event;
pub mod invitations;
pub mod values;

use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::shared::access::Role;
pub use command::{NewInvitation, ProjectCommand, UsageRecord};
pub use error::ProjectError;
pub use event::ProjectEvent;
pub use invitations::{Invitation, InvitationStatus, MAX_PENDING_INVITATIONS};
pub use values::{Budget, Description, ProjectName, ProjectStatus, Scope, Stage};

/// The most active API keys one project may hold.
pub const MAX_ACTIVE_API_KEYS: usize = 50;

/// The most active webhooks one project may hold.
pub const MAX_WEBHOOKS: usize = 20;

/// What a project's decisions need to know; rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Set by `ProjectCreated`; `None` means the project does not exist.
    pub id: Option<Uuid>,
    /// The current name.
    pub name: String,
    /// The current description.
    pub description: String,
    /// The current budget.
    pub budget_usd: Option<Decimal>,
    /// The owner, who can never be removed.
    pub owner_id: Option<Uuid>,
    /// The workflow stage.
    pub stage: Option<Stage>,
    /// Active or archived.
    pub status: ProjectStatus,
    /// Members and their roles.
    pub members: BTreeMap<Uuid, Role>,
    /// What its recorded token usage has cost so far, exactly.
    #[serde(default)]
    pub spent_usd: Decimal,
    /// Its API keys: `true` once revoked.
    #[serde(default)]
    pub api_keys: BTreeMap<Uuid, bool>,
    /// The run of the workflow going on, if one is.
    #[serde(default)]
    pub running_execution: Option<Uuid>,
    /// Its webhooks: `true` once removed.
    #[serde(default)]
    pub webhooks: BTreeMap<Uuid, bool>,
    /// Its invitations, by id.
    #[serde(default)]
    pub invitations: BTreeMap<Uuid, Invitation>,
}

impl Aggregate for Project {
    const TYPE: &'static str = "Project";
    type Command = ProjectCommand;
    type Event = ProjectEvent;
    type Error = ProjectError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProjectEvent::ProjectCreated {
                project_id,
                name,
                description,
                budget_usd,
                owner_id,
                stage,
            } => {
                self.id = Some(project_id);
                self.name = name;
                self.description = description;
                self.budget_usd = budget_usd;
                self.owner_id = Some(owner_id);
                self.stage = Some(stage);
                self.members.insert(owner_id, Role::Owner);
            }
            ProjectEvent::ProjectUpdated {
                name,
                description,
                budget_usd,
            } => {
                self.name = name;
                self.description = description;
                self.budget_usd = budget_usd;
            }
            ProjectEvent::ProjectArchived {} => self.status = ProjectStatus::Archived,
            ProjectEvent::ProjectStageAdvanced { to, .. } => self.stage = Some(to),
            ProjectEvent::ProjectMemberAdded { user_id, role }
            | ProjectEvent::ProjectMemberRoleChanged { user_id, role } => {
                self.members.insert(user_id, role);
            }
            ProjectEvent::ProjectMemberRemoved { user_id } => {
                self.members.remove(&user_id);
            }
            ProjectEvent::TokenUsageRecorded { spent_usd, .. } => self.spent_usd = spent_usd,
            ProjectEvent::ApiKeyCreated { key_id, .. } => {
                self.api_keys.insert(key_id, false);
            }
            ProjectEvent::ApiKeyRevoked { key_id, .. } => {
                self.api_keys.insert(key_id, true);
            }
            ProjectEvent::ProjectExecutionStarted { execution_id, .. } => {
                self.running_execution = Some(execution_id);
            }
            ProjectEvent::ProjectExecutionEnded { .. } => self.running_execution = None,
            ProjectEvent::WebhookAdded { webhook_id, .. } => {
                self.webhooks.insert(webhook_id, false);
            }
            ProjectEvent::WebhookRemoved { webhook_id, .. } => {
                self.webhooks.insert(webhook_id, true);
            }
            ProjectEvent::InvitationSent { .. }
            | ProjectEvent::InvitationAccepted { .. }
            | ProjectEvent::InvitationRevoked { .. } => self.apply_invitation(&event),
        }
    }
}

crate::sink::decider!(Project);

impl Project {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`ProjectError`] naming the rule the command breaks.
    pub fn decide(&self, command: ProjectCommand) -> Result<Vec<ProjectEvent>, ProjectError> {
        match command {
            ProjectCommand::Create {
                project_id,
                name,
                description,
                budget,
                owner_id,
            } => self.decide_create(project_id, name, description, budget, owner_id),
            ProjectCommand::Update {
                actor,
                name,
                description,
                budget,
            } => self.decide_update(actor, name, description, budget),
            ProjectCommand::Archive { actor } => self.decide_archive(actor),
            ProjectCommand::AdvanceStage { actor, stage } => self.decide_advance_stage(actor, stage),
            ProjectCommand::AddMember { actor, user_id, role } => {
                self.decide_add_member(actor, user_id, role)
            }
            ProjectCommand::RemoveMember { actor, user_id } => self.decide_remove_member(actor, user_id),
            ProjectCommand::Invite { actor, invitation } => self.decide_invite(actor, invitation),
            ProjectCommand::RevokeInvitation { actor, invitation_id } => {
                self.decide_revoke_invitation(actor, invitation_id)
            }
            ProjectCommand::AcceptInvitation {
                invitation_id,
                token_hash,
                user_id,
                verified_email_index,
                now,
            } => self.decide_accept_invitation(
                invitation_id,
                &token_hash,
                user_id,
                verified_email_index.as_deref(),
                now,
            ),
            ProjectCommand::RecordUsage(usage) => self.decide_record_usage(usage),
            ProjectCommand::StartExecution {
                actor,
                execution_id,
                max_parallel_tasks,
            } => {
                self.require_writable(actor, Role::can_manage, "owner or admin")?;
                if let Some(running) = self.running_execution {
                    return Err(ProjectError::ExecutionRunning {
                        execution_id: running,
                    });
                }
                Ok(vec![ProjectEvent::ProjectExecutionStarted {
                    execution_id,
                    stage: self.stage.unwrap_or(Stage::Requirements),
                    max_parallel_tasks,
                    started_by: actor,
                }])
            }
            ProjectCommand::ReachStage { execution_id, stage } => {
                let current = self.stage.unwrap_or(Stage::Requirements);
                if self.running_execution != Some(execution_id) || current.next() != Some(stage) {
                    // Reached already, or the run is not this project's now.
                    return Ok(vec![]);
                }
                Ok(vec![ProjectEvent::ProjectStageAdvanced {
                    from: current,
                    to: stage,
                }])
            }
            ProjectCommand::AddWebhook {
                actor,
                webhook_id,
                url,
                events,
            } => {
                self.require_writable(actor, Role::can_manage, "owner or admin")?;
                if self.webhooks.contains_key(&webhook_id) {
                    return Err(ProjectError::AlreadyExists);
                }
                if self.webhooks.values().filter(|removed| !**removed).count() >= MAX_WEBHOOKS {
                    return Err(ProjectError::TooManyWebhooks { max: MAX_WEBHOOKS });
                }
                Ok(vec![ProjectEvent::WebhookAdded {
                    webhook_id,
                    url,
                    events,
                    created_by: actor,
                }])
            }
            ProjectCommand::RemoveWebhook { actor, webhook_id } => {
                self.require_writable(actor, Role::can_manage, "owner or admin")?;
                match self.webhooks.get(&webhook_id) {
                    None => Err(ProjectError::UnknownWebhook),
                    Some(true) => Ok(vec![]),
                    Some(false) => Ok(vec![ProjectEvent::WebhookRemoved {
                        webhook_id,
                        removed_by: actor,
                    }]),
                }
            }
            ProjectCommand::EndExecution { execution_id } => {
                if self.running_execution != Some(execution_id) {
                    return Ok(vec![]);
                }
                Ok(vec![ProjectEvent::ProjectExecutionEnded { execution_id }])
            }
            ProjectCommand::CreateApiKey {
                actor,
                key_id,
                name,
                scopes,
                agent_id,
                secret_digest,
            } => {
                self.require_writable(actor, Role::can_manage, "owner or admin")?;
                if self.api_keys.contains_key(&key_id) {
                    return Err(ProjectError::AlreadyExists);
                }
                let mut scopes = scopes;
                scopes.sort();
                scopes.dedup();
                if scopes.is_empty() {
                    return Err(crate::FieldError::new("scopes", "must name at least one scope").into());
                }
                let active = self.api_keys.values().filter(|revoked| !**revoked).count();
                if active >= MAX_ACTIVE_API_KEYS {
                    return Err(ProjectError::TooManyApiKeys {
                        max: MAX_ACTIVE_API_KEYS,
                    });
                }
                Ok(vec![ProjectEvent::ApiKeyCreated {
                    key_id,
                    name: name.as_str().to_owned(),
                    scopes,
                    agent_id,
                    secret_digest,
                    created_by: actor,
                }])
            }
            ProjectCommand::RevokeApiKey { actor, key_id } => {
                // Archived projects still let their keys be revoked.
                let role = self.role_of(actor).ok_or(ProjectError::NotFound)?;
                if !Role::can_manage(role) {
                    return Err(ProjectError::NotAllowed {
                        role,
                        needs: "owner or admin",
                    });
                }
                match self.api_keys.get(&key_id) {
                    None => Err(ProjectError::UnknownApiKey),
                    Some(true) => Ok(vec![]),
                    Some(false) => Ok(vec![ProjectEvent::ApiKeyRevoked {
                        key_id,
                        revoked_by: actor,
                    }]),
                }
            }
        }
    }

    fn decide_create(
        &self,
        project_id: Uuid,
        name: ProjectName,
        description: Description,
        budget: Option<Budget>,
        owner_id: Uuid,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        if self.id.is_some() {
            return Err(ProjectError::AlreadyExists);
        }
        Ok(vec![ProjectEvent::ProjectCreated {
            project_id,
            name: name.as_str().to_owned(),
            description: description.as_str().to_owned(),
            budget_usd: budget.map(Budget::amount),
            owner_id,
            stage: Stage::Requirements,
        }])
    }

    fn decide_update(
        &self,
        actor: Uuid,
        name: Option<ProjectName>,
        description: Option<Description>,
        budget: Option<Option<Budget>>,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        self.require_writable(actor, Role::can_manage, "owner or admin")?;
        let name = name.map_or_else(|| self.name.clone(), |n| n.as_str().to_owned());
        let description = description.map_or_else(|| self.description.clone(), |d| d.as_str().to_owned());
        let budget_usd = budget.map_or(self.budget_usd, |b| b.map(Budget::amount));
        if name == self.name && description == self.description && budget_usd == self.budget_usd {
            return Ok(vec![]);
        }
        Ok(vec![ProjectEvent::ProjectUpdated {
            name,
            description,
            budget_usd,
        }])
    }

    fn decide_archive(&self, actor: Uuid) -> Result<Vec<ProjectEvent>, ProjectError> {
        self.require_writable(actor, |role| role == Role::Owner, "owner")?;
        Ok(vec![ProjectEvent::ProjectArchived {}])
    }

    fn decide_advance_stage(&self, actor: Uuid, requested: Stage) -> Result<Vec<ProjectEvent>, ProjectError> {
        self.require_writable(actor, Role::can_manage, "owner or admin")?;
        if let Some(running) = self.running_execution {
            return Err(ProjectError::ExecutionRunning {
                execution_id: running,
            });
        }
        let current = self.stage.unwrap_or(Stage::Requirements);
        let expected = current.next();
        if expected != Some(requested) {
            return Err(ProjectError::StageOutOfOrder {
                current,
                requested,
                expected,
            });
        }
        Ok(vec![ProjectEvent::ProjectStageAdvanced {
            from: current,
            to: requested,
        }])
    }

    fn decide_add_member(
        &self,
        actor: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> Result<Vec<ProjectEvent>, ProjectError> {
        let actor_role = self.require_writable(actor, Role::can_manage, "owner or admin")?;
        if role == Role::Owner && actor_role != Role::Owner {
            return Err(ProjectError::NotAllowed {
                role: actor_role,
                needs: "owner",
            });
        }
        match self.members.get(&user_id) {
            None => Ok(vec![ProjectEvent::ProjectMemberAdded { user_id, role }]),
            Some(current) if *current == role => Ok(vec![]),
            Some(current) => {
                if Some(user_id) == self.owner_id {
                    return Err(ProjectError::OwnerIsPermanent);
                }
                if *current == Role::Owner && actor_role != Role::Owner {
                    return Err(ProjectError::NotAllowed {
                        role: actor_role,
                        needs: "owner",
                    });
                }
                Ok(vec![ProjectEvent::ProjectMemberRoleChanged { user_id, role }])
            }
        }
    }

    fn decide_remove_member(&self, actor: Uuid, user_id: Uuid) -> Result<Vec<ProjectEvent>, ProjectError> {
        let actor_role = self.require_writable(actor, Role::can_manage, "owner or admin")?;
        let Some(current) = self.members.get(&user_id) else {
            return Err(ProjectError::NotAMember);
        };
        if Some(user_id) == self.owner_id {
            return Err(ProjectError::OwnerIsPermanent);
        }
        if *current == Role::Owner && actor_role != Role::Owner {
            return Err(ProjectError::NotAllowed {
                role: actor_role,
                needs: "owner",
            });
        }
        Ok(vec![ProjectEvent::ProjectMemberRemoved { user_id }])
    }

    fn decide_record_usage(&self, usage: UsageRecord) -> Result<Vec<ProjectEvent>, ProjectError> {
        let role = self.role_of(usage.actor).ok_or(ProjectError::NotFound)?;
        if role == Role::Viewer {
            return Err(ProjectError::NotAllowed {
                role,
                needs: "owner, admin or member",
            });
        }
        if self.status == ProjectStatus::Archived {
            return Err(ProjectError::Archived);
        }
        let cost_usd = usage.price.cost(usage.input_tokens, usage.output_tokens);
        let spent_usd = self.spent_usd + cost_usd;
        if let Some(budget) = self.budget_usd
            && !usage.price.is_free()
            && spent_usd > budget
        {
            return Err(ProjectError::BudgetExceeded {
                remaining_usd: (budget - self.spent_usd).max(Decimal::ZERO),
                cost_usd,
            });
        }
        Ok(vec![ProjectEvent::TokenUsageRecorded {
            usage_id: usage.usage_id,
            agent_id: usage.agent_id,
            model: usage.model,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            conversation_id: usage.conversation_id,
            task_id: usage.task_id,
            input_usd_per_million: usage.price.input_usd_per_million,
            output_usd_per_million: usage.price.output_usd_per_million,
            cost_usd,
            input_cost_usd: usage.price.input_cost(usage.input_tokens),
            output_cost_usd: usage.price.output_cost(usage.output_tokens),
            spent_usd,
        }])
    }

    /// Checks that the project exists, that `actor` is a member (else it is
    /// "not found" to them), that their role passes `allowed`, and that the
    /// project is not archived. Returns the actor's role.
    fn require_writable(
        &self,
        actor: Uuid,
        allowed: impl Fn(Role) -> bool,
        needs: &'static str,
    ) -> Result<Role, ProjectError> {
        let role = self.role_of(actor).ok_or(ProjectError::NotFound)?;
        if !allowed(role) {
            return Err(ProjectError::NotAllowed { role, needs });
        }
        if self.status == ProjectStatus::Archived {
            return Err(ProjectError::Archived);
        }
        Ok(role)
    }

    /// The events that change what [`Project::role_of`] answers or whether
    /// the project is archived: a command decided on a project's access
    /// appends only if none of them happened since (`Store::state_guarded`).
    /// Keep in step with `apply`.
    pub const ACCESS_EVENTS: &'static [&'static str] = &[
        "ProjectCreated",
        "ProjectArchived",
        "ProjectMemberAdded",
        "ProjectMemberRoleChanged",
        "ProjectMemberRemoved",
    ];

    /// The role of `user` in this project, if the project exists and they are a member.
    pub fn role_of(&self, user: Uuid) -> Option<Role> {
        self.id?;
        self.members.get(&user).copied()
    }
}

#[cfg(test)]
mod tests;
