-- Token usage. Money stays exact: unscaled numeric, summed without rounding.

ALTER TABLE rm_projects
    ALTER COLUMN budget_usd TYPE numeric,
    ALTER COLUMN spent_usd TYPE numeric;

-- Owned by the `usage` projection: one row per usage record, the source of
-- the cost and token analytics.
CREATE TABLE rm_usage (
    usage_id        uuid PRIMARY KEY,
    project_id      uuid NOT NULL,
    agent_id        uuid NOT NULL,
    model           text NOT NULL,
    input_tokens    bigint NOT NULL,
    output_tokens   bigint NOT NULL,
    conversation_id uuid,
    task_id         uuid,
    -- The price applied (USD per million tokens) and the exact cost charged.
    input_usd_per_million  numeric NOT NULL,
    output_usd_per_million numeric NOT NULL,
    cost_usd        numeric NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX rm_usage_by_project ON rm_usage (project_id, recorded_at);
