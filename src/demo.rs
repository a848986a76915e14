//! `zekka demo`: fills a running backend, through its public HTTP API only,
//! with a small but realistic data set — three people, two projects with
//! budgets, conversations, agents working through the workflow stages,
//! token usage across paid and local models (including an agent that runs
//! out of budget and falls back to the cheapest allowed model), and
//! conflicts resolved by an arbitrator, by the first writer, by a person,
//! and one still open — so a newcomer sees analytics at once.
//!
//! Everything goes through the same routes the frontend uses; nothing is
//! written to the database directly. Running it again signs in to the
//! accounts made the first time and adds two more projects.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use zekka_client::{Answer, Connection, Method};

/// How many times a request refused with `429`/`503` is tried again.
const MAX_RETRIES: u32 = 10;
/// The longest pause between two tries, whatever `Retry-After` says.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// What to fill, and where.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The backend's address.
    pub addr: SocketAddr,
    /// The password of the demo accounts (at least 12 characters).
    pub password: String,
    /// Draw a progress bar on standard error (hidden when it is not a terminal).
    pub progress: bool,
}

/// What the demo made, for the closing summary.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The demo accounts' emails; the first owns the projects.
    pub emails: Vec<String>,
    /// The projects made, by id.
    pub projects: Vec<String>,
    /// The steps taken (each one API call, or two when a budget refusal
    /// made the agent fall back to another model).
    pub steps: u64,
    /// A consistency token for the last write: a query that sends it sees
    /// everything the demo wrote.
    pub consistency_token: String,
}

struct Person {
    email: &'static str,
    name: &'static str,
}

const PEOPLE: [Person; 3] = [
    Person {
        email: "ada.lovelace@example.com",
        name: "Ada Lovelace",
    },
    Person {
        email: "grace.hopper@example.com",
        name: "Grace Hopper",
    },
    Person {
        email: "linus.pauling@example.com",
        name: "Linus Pauling",
    },
];

struct AgentSpec {
    name: &'static str,
    kind: &'static str,
    stage: &'static str,
    model: &'static str,
}

struct TaskSpec {
    stage: &'static str,
    /// Index into the project's agents.
    agent: usize,
    title: &'static str,
    /// Usage records of this task (input, output tokens) on the agent's model.
    usage: &'static [(u64, u64)],
    succeeded: bool,
}

struct ConflictSpec {
    kind: &'static str,
    description: &'static str,
    /// Indexes into the project's agents.
    agents: [usize; 2],
    file_path: Option<&'static str>,
    ending: Ending,
}

enum Ending {
    /// Resolved by a model acting as arbitrator.
    Arbitrated(&'static str, &'static str),
    /// Resolved by the first writer's change winning.
    FirstWriter(&'static str),
    /// Escalated, then settled by a person.
    Escalated(&'static str, &'static str),
    /// Still open.
    Open,
}

struct ConversationSpec {
    title: &'static str,
    /// (speaker, text): `Some(agent index)` for an agent, `None` for the owner.
    messages: &'static [(Option<usize>, &'static str)],
}

struct ProjectSpec {
    name: &'static str,
    description: &'static str,
    budget_usd: &'static str,
    /// (person index, role) besides the owner.
    members: &'static [(usize, &'static str)],
    agents: &'static [AgentSpec],
    conversations: &'static [ConversationSpec],
    tasks: &'static [TaskSpec],
    conflicts: &'static [ConflictSpec],
}

const PROJECTS: [ProjectSpec; 2] = [
    ProjectSpec {
        name: "Checkout service",
        description: "Cart, payment and order confirmation for the web shop",
        budget_usd: "25.00",
        members: &[(1, "admin"), (2, "viewer")],
        agents: &[
            AgentSpec {
                name: "Ariadne",
                kind: "architect",
                stage: "architecture",
                model: "claude-sonnet",
            },
            AgentSpec {
                name: "Bramble",
                kind: "backend_developer",
                stage: "api",
                model: "gpt-4",
            },
            AgentSpec {
                name: "Cosmo",
                kind: "frontend_developer",
                stage: "frontend",
                model: "gemini-pro",
            },
            AgentSpec {
                name: "Dot",
                kind: "tester",
                stage: "testing",
                model: "llama3.1:8b",
            },
        ],
        conversations: &[
            ConversationSpec {
                title: "Kick-off",
                messages: &[
                    (
                        None,
                        "We need a checkout that takes cards and invoices, ready for the spring sale.",
                    ),
                    (
                        Some(0),
                        "Understood. I will draft the service boundaries: cart, payment, orders.",
                    ),
                    (
                        None,
                        "Keep the payment provider behind an interface, we may switch.",
                    ),
                    (
                        Some(0),
                        "Agreed: a PaymentGateway port with a Stripe adapter first.",
                    ),
                    (
                        Some(1),
                        "I will start on the cart API once the boundaries are settled.",
                    ),
                    (None, "Great. Dot, please plan the end-to-end tests early."),
                    (
                        Some(3),
                        "Planned: happy path, declined card, expired session, double submit.",
                    ),
                ],
            },
            ConversationSpec {
                title: "Cart API review",
                messages: &[
                    (
                        Some(1),
                        "POST /cart/items is in; quantities are validated at the edge.",
                    ),
                    (
                        Some(2),
                        "The basket page needs the line totals in minor units, please.",
                    ),
                    (Some(1), "Done: every amount is an integer number of cents now."),
                    (None, "Looks good. Merge when the tests pass."),
                ],
            },
        ],
        tasks: &[
            TaskSpec {
                stage: "requirements",
                agent: 0,
                title: "Collect checkout requirements",
                usage: &[(18_000, 4_200), (9_500, 2_100)],
                succeeded: true,
            },
            TaskSpec {
                stage: "architecture",
                agent: 0,
                title: "Service boundaries and payment port",
                usage: &[(42_000, 9_800), (31_000, 6_400), (12_000, 3_000)],
                succeeded: true,
            },
            TaskSpec {
                stage: "database",
                agent: 1,
                title: "Orders and carts schema",
                usage: &[(22_000, 5_100), (8_000, 2_400)],
                succeeded: true,
            },
            TaskSpec {
                stage: "api",
                agent: 1,
                title: "Cart API",
                usage: &[(55_000, 12_000), (47_000, 10_500), (30_000, 7_700)],
                succeeded: true,
            },
            TaskSpec {
                stage: "api",
                agent: 1,
                title: "Payment webhook (first attempt)",
                usage: &[(26_000, 6_000)],
                succeeded: false,
            },
            TaskSpec {
                stage: "frontend",
                agent: 2,
                title: "Basket and payment pages",
                usage: &[(120_000, 35_000), (80_000, 21_000), (64_000, 18_000)],
                succeeded: true,
            },
            TaskSpec {
                stage: "integration",
                agent: 1,
                title: "Wire the payment gateway",
                usage: &[(38_000, 8_800)],
                succeeded: true,
            },
            TaskSpec {
                stage: "testing",
                agent: 3,
                title: "End-to-end checkout tests",
                usage: &[
                    (240_000, 60_000),
                    (180_000, 41_000),
                    (150_000, 39_000),
                    (90_000, 20_000),
                ],
                succeeded: true,
            },
        ],
        conflicts: &[
            ConflictSpec {
                kind: "code",
                description: "Both changed the cart total calculation",
                agents: [1, 2],
                file_path: Some("src/cart/total.rs"),
                ending: Ending::FirstWriter("Bramble's change landed first; Cosmo rebased onto it"),
            },
            ConflictSpec {
                kind: "design",
                description: "Synchronous payment call versus queued payment events",
                agents: [0, 1],
                file_path: None,
                ending: Ending::Arbitrated(
                    "Queue payment events; the page polls the order status",
                    "claude-sonnet",
                ),
            },
            ConflictSpec {
                kind: "requirement",
                description: "Guest checkout: allowed or sign-in required?",
                agents: [0, 2],
                file_path: None,
                ending: Ending::Escalated(
                    "The agents read the brief differently",
                    "Guest checkout allowed; offer an account after payment",
                ),
            },
            ConflictSpec {
                kind: "resource",
                description: "Both want the staging database for load tests tonight",
                agents: [1, 3],
                file_path: None,
                ending: Ending::Open,
            },
        ],
    },
    ProjectSpec {
        name: "Marketing site",
        description: "Landing pages for the spring campaign",
        budget_usd: "1.20",
        members: &[(1, "member")],
        agents: &[
            AgentSpec {
                name: "Echo",
                kind: "copywriter",
                stage: "requirements",
                model: "claude-sonnet",
            },
            AgentSpec {
                name: "Fable",
                kind: "frontend_developer",
                stage: "frontend",
                model: "gemini-pro",
            },
        ],
        conversations: &[ConversationSpec {
            title: "Landing page copy",
            messages: &[
                (
                    None,
                    "Three headlines for the spring campaign, please. Short and warm.",
                ),
                (
                    Some(0),
                    "1. Spring into savings. 2. Fresh deals, fresh start. 3. Bloom for less.",
                ),
                (
                    None,
                    "The second one. Fable, can you build the hero section around it?",
                ),
                (Some(1), "On it: hero, three product tiles and a newsletter box."),
            ],
        }],
        tasks: &[
            TaskSpec {
                stage: "requirements",
                agent: 0,
                title: "Campaign headlines and copy",
                // The small budget runs out here: the agent falls back to the
                // cheapest model the refusal names.
                usage: &[
                    (60_000, 20_000),
                    (90_000, 30_000),
                    (80_000, 25_000),
                    (70_000, 20_000),
                ],
                succeeded: true,
            },
            TaskSpec {
                stage: "architecture",
                agent: 1,
                title: "Page structure",
                usage: &[(15_000, 3_000)],
                succeeded: true,
            },
            TaskSpec {
                stage: "database",
                agent: 1,
                title: "Newsletter sign-up storage",
                usage: &[(9_000, 2_000)],
                succeeded: true,
            },
            TaskSpec {
                stage: "api",
                agent: 1,
                title: "Sign-up endpoint",
                usage: &[(11_000, 2_500)],
                succeeded: true,
            },
            TaskSpec {
                stage: "frontend",
                agent: 1,
                title: "Hero section and tiles",
                usage: &[(70_000, 18_000), (40_000, 11_000)],
                succeeded: true,
            },
        ],
        conflicts: &[ConflictSpec {
            kind: "design",
            description: "Carousel or static hero image",
            agents: [0, 1],
            file_path: Some("site/index.html"),
            ending: Ending::Arbitrated("Static hero: faster and clearer", "gemini-pro"),
        }],
    },
];

/// How many steps the demo takes: the progress bar's length, and what
/// [`DemoSummary::steps`] comes to when it completes.
pub fn planned_steps() -> u64 {
    let per_project: usize = PROJECTS
        .iter()
        .map(|p| {
            let stages = p
                .tasks
                .iter()
                .map(|t| t.stage)
                .collect::<std::collections::BTreeSet<_>>();
            let conflicts: usize = p
                .conflicts
                .iter()
                .map(|c| match c.ending {
                    Ending::Open => 1,
                    Ending::Arbitrated(..) | Ending::FirstWriter(_) => 2,
                    Ending::Escalated(..) => 3,
                })
                .sum();
            1 + p.members.len()
                // Each agent, and a key it writes its messages with.
                + 2 * p.agents.len()
                + p.conversations.iter().map(|c| 1 + c.messages.len()).sum::<usize>()
                // Advancing past `requirements`, one step a stage.
                + stages.len().saturating_sub(1)
                // Working, the task, its usage, completion, idle.
                + p.tasks.iter().map(|t| 4 + t.usage.len()).sum::<usize>()
                + conflicts
        })
        .sum();
    // Each person signs up (or in), then the owner sets preferences.
    (PEOPLE.len() + per_project + 1) as u64
}

/// A signed-in person.
struct Session {
    user_id: String,
    token: String,
}

/// The API as the demo uses it: one keep-alive connection, reopened when the
/// server closes it, and polite retries when told to wait.
struct Api {
    addr: SocketAddr,
    connection: Option<Connection>,
    progress: ProgressBar,
    steps: u64,
    last_token: String,
}

impl Api {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut tries = 0;
        loop {
            let connection = match self.connection.as_mut() {
                Some(connection) => connection,
                None => self.connection.insert(Connection::open(self.addr).await?),
            };
            let answer = match connection.send(method.clone(), path, bearer, body).await {
                Ok(answer) => answer,
                Err(error) if tries < MAX_RETRIES => {
                    // The server closed the keep-alive connection: reopen.
                    tracing::debug!(%error, "reconnecting");
                    self.connection = None;
                    tries += 1;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            match answer.retry_after() {
                Some(pause) if tries < MAX_RETRIES => {
                    self.progress
                        .set_message(format!("the server asked to wait {}s", pause.as_secs()));
                    tokio::time::sleep(pause.clamp(Duration::from_millis(200), MAX_PAUSE)).await;
                    self.progress.set_message("");
                    tries += 1;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// One step: a request that must answer `expected`; its JSON body.
    async fn step(
        &mut self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Value,
        expected: u16,
    ) -> Result<Value> {
        let answer = self.send(method, path, Some(bearer), Some(&body)).await?;
        let value = answer.json(expected, path)?;
        self.done(&value);
        Ok(value)
    }

    fn done(&mut self, value: &Value) {
        if let Some(token) = value["consistency_token"].as_str() {
            token.clone_into(&mut self.last_token);
        }
        self.steps += 1;
        self.progress.inc(1);
    }

    /// Registers `person` (or finds the account made by an earlier run) and signs in.
    async fn sign_in(&mut self, person: &Person, password: &str) -> Result<Session> {
        let registered = self
            .send(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(&json!({"email": person.email, "password": password, "display_name": person.name})),
            )
            .await?;
        if registered.status != 409 {
            registered.json(201, "register")?;
        }
        let login = self
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"email": person.email, "password": password})),
            )
            .await?;
        if login.status == 401 {
            bail!(
                "{} exists already with another password: run the demo with that --password, or against a fresh database",
                person.email
            );
        }
        let session = login.json(200, "login")?;
        self.done(&Value::Null);
        let field = |name: &str| {
            session[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("login answered without `{name}`"))
        };
        Ok(Session {
            user_id: field("user_id")?,
            token: field("access_token")?,
        })
    }
}

fn id_of(value: &Value, field: &str) -> Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the answer has no `{field}`: {value}"))
}

/// Fills the backend at `options.addr`.
///
/// # Errors
/// When the backend cannot be reached or refuses a step (the error names the
/// request and shows the problem document).
pub async fn run(options: DemoOptions) -> Result<DemoSummary> {
    let progress = if options.progress {
        ProgressBar::new(planned_steps())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} filling the demo [{bar:40}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut api = Api {
        addr: options.addr,
        connection: None,
        progress,
        steps: 0,
        last_token: String::new(),
    };

    let mut people = Vec::new();
    for person in &PEOPLE {
        people.push(api.sign_in(person, &options.password).await?);
    }
    let owner = &people[0];
    let mut projects = Vec::new();
    let mut usage_counter = 0_u64;
    for spec in &PROJECTS {
        projects.push(fill_project(&mut api, spec, owner, &people, &mut usage_counter).await?);
    }
    api.step(
        Method::PUT,
        "/api/v1/preferences",
        &owner.token,
        json!({"theme": "dark", "default_model": "claude-sonnet"}),
        200,
    )
    .await?;
    api.progress.finish_and_clear();
    Ok(DemoSummary {
        emails: PEOPLE.iter().map(|p| p.email.to_owned()).collect(),
        projects,
        steps: api.steps,
        consistency_token: api.last_token,
    })
}

async fn fill_project(
    api: &mut Api,
    spec: &ProjectSpec,
    owner: &Session,
    people: &[Session],
    usage_counter: &mut u64,
) -> Result<String> {
    let token = owner.token.as_str();
    api.progress.set_message(spec.name);
    let project = api
        .step(
            Method::POST,
            "/api/v1/projects",
            token,
            json!({"name": spec.name, "description": spec.description, "budget_usd": spec.budget_usd}),
            201,
        )
        .await?;
    let project = id_of(&project, "id")?;
    for (person, role) in spec.members {
        api.step(
            Method::POST,
            &format!("/api/v1/projects/{project}/members"),
            token,
            json!({"user_id": people[*person].user_id, "role": role}),
            200,
        )
        .await?;
    }
    let mut agents = Vec::new();
    let mut agent_keys: Vec<String> = Vec::new();
    for agent in spec.agents {
        let made = api
            .step(
                Method::POST,
                "/api/v1/agents",
                token,
                json!({"project_id": project, "name": agent.name, "kind": agent.kind,
                       "stage": agent.stage, "model": agent.model}),
                201,
            )
            .await?;
        let agent_id = id_of(&made, "id")?;
        // Agents speak with keys of their own: a person's token writes as
        // that person (CONTRACT.md, "Hostile input").
        let key = api
            .step(
                Method::POST,
                &format!("/api/v1/projects/{project}/api-keys"),
                token,
                json!({"name": format!("{} messages", agent.name), "scopes": ["messages:write"],
                       "agent_id": agent_id}),
                201,
            )
            .await?;
        agent_keys.push(id_of(&key, "key")?);
        agents.push(agent_id);
    }
    for conversation in spec.conversations {
        let made = api
            .step(
                Method::POST,
                "/api/v1/conversations",
                token,
                json!({"project_id": project, "title": conversation.title}),
                201,
            )
            .await?;
        let conversation_id = id_of(&made, "id")?;
        let path = format!("/api/v1/conversations/{conversation_id}/messages");
        for (speaker, text) in conversation.messages {
            let (bearer, body) = match speaker {
                Some(agent) => (agent_keys[*agent].as_str(), json!({"content": text})),
                None => (token, json!({"content": text})),
            };
            api.step(Method::POST, &path, bearer, body, 201).await?;
        }
    }

    let mut stage = "requirements";
    for task in spec.tasks {
        if task.stage != stage {
            api.step(
                Method::POST,
                &format!("/api/v1/projects/{project}/stage"),
                token,
                json!({"stage": task.stage}),
                200,
            )
            .await?;
            stage = task.stage;
        }
        let agent = &agents[task.agent];
        let model = spec.agents[task.agent].model;
        work_on_task(api, token, agent, model, task, usage_counter).await?;
    }

    for conflict in spec.conflicts {
        let mut body = json!({"project_id": project, "kind": conflict.kind, "description": conflict.description,
                              "agent_ids": [agents[conflict.agents[0]], agents[conflict.agents[1]]]});
        if let Some(path) = conflict.file_path {
            body["file_path"] = json!(path);
        }
        let made = api
            .step(Method::POST, "/api/v1/conflicts", token, body, 201)
            .await?;
        let id = id_of(&made, "id")?;
        let resolve = format!("/api/v1/conflicts/{id}/resolve");
        match conflict.ending {
            Ending::Open => {}
            Ending::Arbitrated(resolution, model) => {
                let body =
                    json!({"strategy": "arbitrator", "resolution": resolution, "resolved_by_model": model});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
            Ending::FirstWriter(resolution) => {
                let body = json!({"strategy": "first_writer", "resolution": resolution});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
            Ending::Escalated(reason, resolution) => {
                api.step(
                    Method::POST,
                    &format!("/api/v1/conflicts/{id}/escalate"),
                    token,
                    json!({"reason": reason}),
                    200,
                )
                .await?;
                let body = json!({"strategy": "manual", "resolution": resolution});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
        }
    }
    Ok(project)
}

async fn work_on_task(
    api: &mut Api,
    token: &str,
    agent: &str,
    model: &str,
    task: &TaskSpec,
    usage_counter: &mut u64,
) -> Result<()> {
    let status = format!("/api/v1/agents/{agent}/status");
    api.step(
        Method::POST,
        &status,
        token,
        json!({"status": "working", "detail": task.title}),
        200,
    )
    .await?;
    let assigned = api
        .step(
            Method::POST,
            &format!("/api/v1/agents/{agent}/tasks"),
            token,
            json!({"title": task.title, "stage": task.stage}),
            201,
        )
        .await?;
    let task_id = id_of(&assigned, "task_id")?;
    let usage = format!("/api/v1/agents/{agent}/usage");
    let mut model = model.to_owned();
    for (input, output) in task.usage {
        // A little variety, the same on every run.
        *usage_counter += 1;
        let jitter = (*usage_counter * 7_919) % 1_000;
        let body = json!({"model": model, "input_tokens": input + jitter, "output_tokens": output + jitter / 4,
                          "task_id": task_id});
        let answer = api.send(Method::POST, &usage, Some(token), Some(&body)).await?;
        if answer.status == 402 {
            // Out of budget: carry on with the cheapest model still allowed,
            // as an agent process would.
            let problem = answer.json(402, &usage)?;
            model = id_of(&problem, "cheapest_model")?;
            let mut body = body;
            body["model"] = json!(model);
            api.step(Method::POST, &usage, token, body, 201).await?;
        } else {
            let value = answer.json(201, &usage)?;
            api.done(&value);
        }
    }
    let outcome = if task.succeeded { "succeeded" } else { "failed" };
    api.step(
        Method::POST,
        &format!("/api/v1/agents/{agent}/tasks/{task_id}/complete"),
        token,
        json!({"outcome": outcome}),
        200,
    )
    .await?;
    api.step(Method::POST, &status, token, json!({"status": "idle"}), 200)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_stage_is_a_workflow_stage_in_order() {
        let order = [
            "requirements",
            "architecture",
            "database",
            "api",
            "frontend",
            "integration",
            "testing",
            "documentation",
            "deployment",
            "quality_assurance",
        ];
        for project in &PROJECTS {
            let positions: Vec<usize> = project
                .tasks
                .iter()
                .map(|t| order.iter().position(|s| *s == t.stage).unwrap_or(usize::MAX))
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] <= w[1] && w[1] <= w[0] + 1),
                "{}",
                project.name
            );
            assert_eq!(positions.first(), Some(&0), "{}", project.name);
        }
    }
}
