-- Agents and their tasks. Owned by the `agents` projection.

CREATE TABLE rm_agents (
    agent_id        uuid PRIMARY KEY,
    project_id      uuid NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL,
    stage           text,
    model           text NOT NULL,
    status          text NOT NULL,
    status_detail   text NOT NULL DEFAULT '',
    current_task_id uuid,
    tasks_done      bigint NOT NULL DEFAULT 0,
    tasks_failed    bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX rm_agents_by_project ON rm_agents (project_id, agent_id);

CREATE TABLE rm_tasks (
    task_id      uuid PRIMARY KEY,
    agent_id     uuid NOT NULL,
    project_id   uuid NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL,
    stage        text,
    -- `open`, `succeeded` or `failed`.
    outcome      text NOT NULL,
    assigned_at  timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX rm_tasks_by_project ON rm_tasks (project_id, task_id);
