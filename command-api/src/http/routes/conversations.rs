//! The conversation and message write routes.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::conversation::{
    Conversation, ConversationCommand, ConversationError, MessageContent, MessageRole, Title,
};
use zekka_domain::project::Scope;
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::store::Guard;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, BearerAuth, Principal};
use zekka_platform::input::{Label, NonBlank, OneOf, Text};
use zekka_platform::policy::{self, Action};

use super::{CommandTags, NoContent, Written, WrittenResponse};
use crate::app::access;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Conversations and their messages.
pub struct ConversationCommandApi {
    state: Arc<CommandState>,
}

/// A new conversation.
#[derive(Debug, Object)]
struct StartConversationRequest {
    project_id: Uuid,
    /// 1 to 200 characters.
    title: Text<Label<{ Title::MAX_CHARS }>>,
}

/// A message to send.
#[derive(Debug, Object)]
struct SendMessageRequest {
    /// Up to 64 KiB.
    content: Text<NonBlank<{ MessageContent::MAX_BYTES }>>,
    /// `user` (default), `agent` or `system`.
    role: Option<Text<OneOf<MessageRole>>>,
    /// The agent speaking; required for `agent` messages.
    agent_id: Option<Uuid>,
}

/// A message's new text.
#[derive(Debug, Object)]
struct EditMessageRequest {
    content: Text<NonBlank<{ MessageContent::MAX_BYTES }>>,
}

/// A message as sent.
#[derive(Debug, Object)]
struct SentMessage {
    id: Uuid,
    conversation_id: Uuid,
    author_id: Uuid,
    role: String,
    agent_id: Option<Uuid>,
    content: String,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Written>, #[oai(header = "X-Consistency-Token")] String),
}

#[derive(ApiResponse)]
enum MessageCreated {
    /// The message was sent.
    #[oai(status = 201)]
    Created(Json<SentMessage>, #[oai(header = "X-Consistency-Token")] String),
}

impl ConversationCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn limit(&self, principal: &Principal) -> Result<(), Problem> {
        limits::writes(&self.state, principal.acting_user()).await
    }

    /// Builds a command with `build` (which may read facts) and executes it
    /// in this process's turn on the conversation, building it again when a
    /// concurrent write got in first or the facts went stale.
    async fn execute_fresh<F, Fut>(
        &self,
        req: &Request,
        principal: &Principal,
        conversation_id: Uuid,
        name: &'static str,
        build: F,
    ) -> Result<ConsistencyToken, Problem>
    where
        F: Fn(bool) -> Fut,
        Fut: Future<Output = Result<(ConversationCommand, Option<Guard>), Problem>>,
    {
        let context = http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key());
        let id = conversation_id.to_string();
        let executed = dispatch::run_serialized::<Conversation, _, _, Problem>(
            &self.state.write_locks,
            conversation_id,
            &self.state.conversations,
            &id,
            name,
            &context,
            |error| matches!(error, ConversationError::StaleFacts),
            build,
        )
        .await?
        .map_err(problem::refused)?;
        Ok(dispatch::token(&self.state.conversations, &id, executed.appended).await?)
    }

    /// The project of `conversation_id` and the actor's standing in it.
    async fn access(
        &self,
        conversation_id: Uuid,
        actor: Uuid,
    ) -> Result<zekka_domain::shared::access::ProjectAccess, Problem> {
        let project = self.project_of(conversation_id).await?;
        Ok(access::project_access(&self.state, project, actor).await?)
    }

    /// Who a new message speaks as, from the credential, not the body
    /// (security review F16): a person as a user; an API key bound to an
    /// agent as that agent; another key of the project as the agent it
    /// names, which must be one of this project's. The body may repeat
    /// that, never claim otherwise; no one writes `system` messages.
    async fn speaker(
        &self,
        principal: &Principal,
        project: Uuid,
        asked: MessageRole,
        agent_id: Option<Uuid>,
    ) -> Result<(MessageRole, Option<Uuid>), Problem> {
        let refuse = |field: &str, message: &str| Problem::invalid_field(FieldError::new(field, message));
        if asked == MessageRole::System {
            return Err(refuse("role", "system messages are written by Zekka itself"));
        }
        let Principal::Key(grant) = principal else {
            if asked != MessageRole::User {
                return Err(refuse(
                    "role",
                    "people write as users; an agent writes with an API key of its own",
                ));
            }
            if agent_id.is_some() {
                return Err(refuse(
                    "agent_id",
                    "people write as themselves; an agent writes with an API key of its own",
                ));
            }
            return Ok((MessageRole::User, None));
        };
        if let Some(bound) = grant.agent_id {
            if agent_id.is_some_and(|asked| asked != bound) {
                return Err(Problem::forbidden(
                    "this API key speaks only as its own agent: send its agent_id",
                ));
            }
            return Ok((MessageRole::Agent, Some(bound)));
        }
        let agent = agent_id.ok_or_else(|| {
            refuse(
                "agent_id",
                "an API key writes as an agent of its project: name it in agent_id",
            )
        })?;
        if access::owning_project(&self.state, "Agent", agent).await? != Some(project) {
            return Err(refuse("agent_id", "no agent of this project has this id"));
        }
        Ok((MessageRole::Agent, Some(agent)))
    }

    async fn project_of(&self, conversation_id: Uuid) -> Result<Uuid, Problem> {
        access::owning_project(&self.state, "Conversation", conversation_id)
            .await?
            .ok_or_else(|| Problem::not_found("conversation not found"))
    }
}

#[OpenApi(prefix_path = "/api/v1/conversations", tag = "CommandTags::Conversations")]
impl ConversationCommandApi {
    /// Start a conversation in a project the caller can write to.
    #[oai(path = "/", method = "post", operation_id = "startConversation")]
    async fn start(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<StartConversationRequest>,
    ) -> Result<Created, Problem> {
        self.limit(&Principal::from(&auth)).await?;
        let title = Title::parse(&body.title).map_err(Problem::invalid_field)?;
        let access = access::project_access(&self.state, body.project_id, auth.0.user_id).await?;
        if access.role.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        let conversation_id = Uuid::now_v7();
        let command = ConversationCommand::Start {
            conversation_id,
            project_id: body.project_id,
            title,
            actor: auth.0.user_id,
            access,
        };
        let context = http::context(req, Some(auth.0.user_id));
        let token = dispatch::execute(
            &self.state.conversations,
            &conversation_id.to_string(),
            command,
            "StartConversation",
            &context,
        )
        .await?
        .to_string();
        Ok(Created::Created(
            Json(Written {
                id: conversation_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Archive a conversation (its starter, or a project owner or admin).
    #[oai(path = "/:id", method = "delete", operation_id = "archiveConversation")]
    async fn archive(&self, req: &Request, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, Problem> {
        self.limit(&Principal::from(&auth)).await?;
        let actor = auth.0.user_id;
        let token = self
            .execute_fresh(
                req,
                &Principal::from(&auth),
                id.0,
                "ArchiveConversation",
                |_| async {
                    let command = ConversationCommand::Archive {
                        actor,
                        access: self.access(id.0, actor).await?,
                    };
                    Ok((command, None))
                },
            )
            .await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// Send a message.
    #[oai(path = "/:id/messages", method = "post", operation_id = "sendMessage")]
    async fn send(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<SendMessageRequest>,
    ) -> Result<MessageCreated, Problem> {
        let principal = &auth.0;
        self.limit(principal).await?;
        let role = match body.role.as_deref() {
            Some(role) => role.parse::<MessageRole>(),
            None => Ok(MessageRole::User),
        };
        let (content, asked_role) = (MessageContent::parse(&body.content), role)
            .all()
            .map_err(problem::invalid)?;
        let actor = principal.acting_user();
        let message_id = Uuid::now_v7();
        let project = self.project_of(id.0).await?;
        policy::authorize(
            principal,
            Action::InProject {
                scope: Scope::MessagesWrite,
                project_id: project,
                agent_id: body.agent_id,
            },
        )?;
        // Who may write is decided before what the body claims is looked at.
        // The project's state in memory decides, and its guard makes the
        // append fail if the project's members changed since; a refusal is
        // only ever decided on the project as stored.
        let writer = |fresh: bool| async move {
            let (access, guard) = access::project_access_guarded(&self.state, project, actor, fresh).await?;
            access
                .require_writer()
                .map_err(|refusal| problem::refused(cqrs_es::AggregateError::UserError(refusal)))?;
            Ok::<_, Problem>((access, guard))
        };
        if writer(false).await.is_err() {
            writer(true).await?;
        }
        let (role, agent_id) = self
            .speaker(principal, project, asked_role, body.agent_id)
            .await?;
        let (content_ref, writer) = (&content, &writer);
        let token = self
            .execute_fresh(req, principal, id.0, "SendMessage", |fresh| async move {
                let (access, guard) = writer(fresh).await?;
                let command = ConversationCommand::Send {
                    message_id,
                    actor,
                    access,
                    role,
                    agent_id,
                    content: content_ref.clone(),
                };
                Ok((command, Some(guard)))
            })
            .await?
            .to_string();
        Ok(MessageCreated::Created(
            Json(SentMessage {
                id: message_id,
                conversation_id: id.0,
                author_id: actor,
                role: role.as_str().to_owned(),
                agent_id,
                content: content.as_str().to_owned(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Change a message's text (its author only).
    #[oai(
        path = "/:id/messages/:message_id",
        method = "put",
        operation_id = "editMessage"
    )]
    async fn edit(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        message_id: Path<Uuid>,
        body: Json<EditMessageRequest>,
    ) -> Result<WrittenResponse, Problem> {
        self.limit(&Principal::from(&auth)).await?;
        let content = MessageContent::parse(&body.content).map_err(Problem::invalid_field)?;
        let actor = auth.0.user_id;
        let access = self.access(id.0, actor).await?;
        let token = self
            .execute_fresh(req, &Principal::from(&auth), id.0, "EditMessage", |_| async {
                let command = ConversationCommand::Edit {
                    message_id: message_id.0,
                    actor,
                    access,
                    content: content.clone(),
                    facts: access::message_facts(&self.state, id.0, message_id.0).await?,
                };
                Ok((command, None))
            })
            .await?
            .to_string();
        Ok(Written::ok(message_id.0, token))
    }

    /// Delete a message (its author, or a project owner or admin). The event
    /// stays; the content leaves every read model.
    #[oai(
        path = "/:id/messages/:message_id",
        method = "delete",
        operation_id = "deleteMessage"
    )]
    async fn delete(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        message_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        self.limit(&Principal::from(&auth)).await?;
        let actor = auth.0.user_id;
        let access = self.access(id.0, actor).await?;
        let token = self
            .execute_fresh(req, &Principal::from(&auth), id.0, "DeleteMessage", |_| async {
                let command = ConversationCommand::Delete {
                    message_id: message_id.0,
                    actor,
                    access,
                    facts: access::message_facts(&self.state, id.0, message_id.0).await?,
                };
                Ok((command, None))
            })
            .await?;
        Ok(NoContent::Done(token.to_string()))
    }
}
