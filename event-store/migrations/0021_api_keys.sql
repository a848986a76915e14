-- Project API keys (CONTRACT.md, "Agent integration").
--
-- Owned by the `projects` projection: one row per key, from ApiKeyCreated
-- and ApiKeyRevoked. The digest of the secret is the only trace of it.
CREATE TABLE rm_api_keys (
    key_id        uuid PRIMARY KEY,
    project_id    uuid NOT NULL,
    name          text NOT NULL,
    scopes        text[] NOT NULL,
    agent_id      uuid,
    secret_digest text NOT NULL,
    created_by    uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX rm_api_keys_by_project ON rm_api_keys (project_id, created_at);

-- When each key was last used, written by the API processes every few
-- seconds (not an event: it would be one per request). Not a read model, so
-- a rebuild leaves it alone.
CREATE TABLE api_key_usage (
    key_id       uuid PRIMARY KEY,
    last_used_at timestamptz NOT NULL
);
