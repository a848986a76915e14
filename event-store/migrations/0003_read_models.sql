-- Read models. Each `rm_*` table is owned by one projector, which is the only
-- writer; the query API only reads them.

-- Owned by the `users` projection.
CREATE TABLE rm_users (
    user_id        uuid PRIMARY KEY,
    email          text NOT NULL,
    display_name   text NOT NULL,
    email_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL
);

-- Owned by the `projects` projection.
CREATE TABLE rm_projects (
    project_id  uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    owner_id    uuid NOT NULL,
    -- Money is exact: numeric, never float. NULL means no budget.
    budget_usd  numeric(20, 6),
    spent_usd   numeric(20, 6) NOT NULL DEFAULT 0,
    stage       text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Owned by the `projects` projection: who may see and do what in a project.
CREATE TABLE rm_project_members (
    project_id uuid NOT NULL,
    user_id    uuid NOT NULL,
    role       text NOT NULL,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
-- "Projects I am a member of", paged by project id (UUIDv7: creation order).
CREATE INDEX rm_project_members_by_user ON rm_project_members (user_id, project_id);
