-- Idempotency keys (CONTRACT.md): a write sent with `Idempotency-Key` keeps
-- its answer here for 24 hours; the same key and request get that answer
-- again and append nothing, the same key with another request is refused.
CREATE TABLE idempotency_keys (
    -- Whose key: the signed-in user, or `anonymous` (registration, sign-in).
    scope        text NOT NULL,
    key          text NOT NULL,
    -- SHA-256 of method, path and body: what the key was first used for.
    request_hash bytea NOT NULL,
    -- NULL while the first request is still being answered.
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
