-- Who each stream belongs to, for the audit routes: project members may
-- read the streams of their projects, a person the streams about them, and
-- the auditor and admin roles everything. Owned by the `streams` projection.
CREATE TABLE rm_streams (
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    -- The project a project-scoped stream (Project, Conversation, Agent,
    -- Conflict) belongs to.
    project_id     uuid,
    -- The person a personal stream (User, Session, Preferences) is about.
    user_id        uuid,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
CREATE INDEX rm_streams_by_project ON rm_streams (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX rm_streams_by_user ON rm_streams (user_id) WHERE user_id IS NOT NULL;
