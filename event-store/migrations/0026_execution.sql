-- Issue 22: project execution. The orchestrator's tasks live in rm_tasks
-- beside the ones people assign (the agents projection writes both), with
-- their run, model and lease; runs are rm_executions; the process manager
-- keeps its place in the stream in process_checkpoints.

ALTER TABLE rm_tasks
    ADD COLUMN execution_id uuid,
    ADD COLUMN model        text,
    ADD COLUMN lease_until  timestamptz,
    ADD COLUMN claims       integer NOT NULL DEFAULT 0,
    ADD COLUMN lapses       integer NOT NULL DEFAULT 0;

-- An agent's next task: its open (or lapsed) ones of a run, oldest first.
CREATE INDEX rm_tasks_work ON rm_tasks (agent_id, assigned_at)
    WHERE execution_id IS NOT NULL AND outcome = 'open';
-- A run's tasks, for its counts and cost.
CREATE INDEX rm_tasks_by_execution ON rm_tasks (execution_id) WHERE execution_id IS NOT NULL;
-- Leases to lapse.
CREATE INDEX rm_tasks_leases ON rm_tasks (lease_until) WHERE lease_until IS NOT NULL;

CREATE TABLE rm_executions (
    execution_id       uuid        PRIMARY KEY,
    project_id         uuid        NOT NULL,
    status             text        NOT NULL,
    stage              text        NOT NULL,
    started_by         uuid        NOT NULL,
    max_parallel_tasks integer     NOT NULL,
    pause_reasons      jsonb       NOT NULL DEFAULT '[]',
    cost_usd           numeric     NOT NULL DEFAULT 0,
    started_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    finished_at        timestamptz
);
CREATE INDEX rm_executions_by_project ON rm_executions (project_id, started_at DESC);

-- Where each process manager stands in the commit order. Not a projection:
-- it writes no read model, it issues commands.
CREATE TABLE process_checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
