//! What the demo does: its people, projects, agents, tasks, conflicts and conversations.

pub(super) struct Person {
    pub(super) email: &'static str,
    pub(super) name: &'static str,
}

pub(super) const PEOPLE: [Person; 3] = [
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

pub(super) struct AgentSpec {
    pub(super) name: &'static str,
    pub(super) kind: &'static str,
    pub(super) stage: &'static str,
    pub(super) model: &'static str,
}

pub(super) struct TaskSpec {
    pub(super) stage: &'static str,
    /// Index into the project's agents.
    pub(super) agent: usize,
    pub(super) title: &'static str,
    /// Usage records of this task (input, output tokens) on the agent's model.
    pub(super) usage: &'static [(u64, u64)],
    pub(super) succeeded: bool,
}

pub(super) struct ConflictSpec {
    pub(super) kind: &'static str,
    pub(super) description: &'static str,
    /// Indexes into the project's agents.
    pub(super) agents: [usize; 2],
    pub(super) file_path: Option<&'static str>,
    pub(super) ending: Ending,
}

pub(super) enum Ending {
    /// Resolved by a model acting as arbitrator.
    Arbitrated(&'static str, &'static str),
    /// Resolved by the first writer's change winning.
    FirstWriter(&'static str),
    /// Escalated, then settled by a person.
    Escalated(&'static str, &'static str),
    /// Still open.
    Open,
}

pub(super) struct ConversationSpec {
    pub(super) title: &'static str,
    /// (speaker, text): `Some(agent index)` for an agent, `None` for the owner.
    pub(super) messages: &'static [(Option<usize>, &'static str)],
}

pub(super) struct ProjectSpec {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) budget_usd: &'static str,
    /// (person index, role) besides the owner.
    pub(super) members: &'static [(usize, &'static str)],
    pub(super) agents: &'static [AgentSpec],
    pub(super) conversations: &'static [ConversationSpec],
    pub(super) tasks: &'static [TaskSpec],
    pub(super) conflicts: &'static [ConflictSpec],
}

pub(super) const PROJECTS: [ProjectSpec; 2] = [
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
    // Each person signs up (or in), then the executed project, then the
    // owner sets preferences.
    (PEOPLE.len() + per_project + 1) as u64 + super::execution::EXECUTION_STEPS
}
