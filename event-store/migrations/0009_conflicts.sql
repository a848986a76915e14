-- Conflicts between agents. Owned by the `conflicts` projection.
CREATE TABLE rm_conflicts (
    conflict_id       uuid PRIMARY KEY,
    project_id        uuid NOT NULL,
    kind              text NOT NULL,
    description       text NOT NULL,
    agent_ids         uuid[] NOT NULL,
    file_path         text,
    -- `open`, `escalated` or `resolved`.
    status            text NOT NULL,
    strategy          text,
    resolution        text,
    resolved_by_model text,
    escalation_reason text,
    reported_at       timestamptz NOT NULL,
    resolved_at       timestamptz,
    escalated_at      timestamptz
);
CREATE INDEX rm_conflicts_by_project ON rm_conflicts (project_id, conflict_id);
