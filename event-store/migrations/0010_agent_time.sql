-- How long each agent has spent working, for its busy share. Maintained by
-- the `agents` projection from status changes.
ALTER TABLE rm_agents
    ADD COLUMN status_since    timestamptz,
    ADD COLUMN working_seconds double precision NOT NULL DEFAULT 0;
-- Usage by task, for cost per task.
CREATE INDEX rm_usage_by_task ON rm_usage (task_id) WHERE task_id IS NOT NULL;
