-- Issue 24: people and accounts. Who shares a project with whom, each
-- person's sessions, and the cutoff a password change or reset sets.

-- Owned by the `users` projection: the sessions a person has open, for
-- their session list. A revoked session's row is deleted; an expired one
-- is filtered out when read (and removed with its user on erasure).
CREATE TABLE rm_sessions (
    session_id   uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL,
    started_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    client_ip    text,
    user_agent   text
);
CREATE INDEX rm_sessions_by_user ON rm_sessions (user_id, started_at);

-- Sessions started up to `sessions_revoked_at` have ended (a password reset
-- or change), but for `kept_session`, the one a change was made in.
ALTER TABLE rm_users ADD COLUMN sessions_revoked_at timestamptz;
ALTER TABLE rm_users ADD COLUMN kept_session uuid;

-- The members of `project` as `viewer` may see them: every member, when
-- `viewer` is one; nobody otherwise. Like `visible_projects` (0025), a plain
-- SQL function PostgreSQL inlines into the calling statement.
CREATE FUNCTION project_members(viewer uuid, project uuid)
RETURNS TABLE (user_id uuid, role text, added_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT m.user_id, m.role, m.added_at
      FROM rm_project_members m
     WHERE m.project_id = project
       AND EXISTS (SELECT 1 FROM visible_projects(viewer) v WHERE v.project_id = project)
$$;

-- Whether `viewer` and `other` are members of one project together (a
-- person shares with themselves): who may see whose name.
CREATE FUNCTION shares_a_project(viewer uuid, other uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT viewer = other OR EXISTS (
        SELECT 1 FROM visible_projects(viewer) v
          JOIN rm_project_members m ON m.project_id = v.project_id
         WHERE m.user_id = other)
$$;

-- Owned by the `projects` projection: invitations still pending (accepted
-- and revoked ones are deleted; expired ones are filtered out when read).
CREATE TABLE rm_invitations (
    invitation_id uuid        PRIMARY KEY,
    project_id    uuid        NOT NULL,
    email         text        NOT NULL,
    role          text        NOT NULL,
    invited_by    uuid        NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX rm_invitations_by_project ON rm_invitations (project_id, invitation_id);
