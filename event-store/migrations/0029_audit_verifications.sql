-- Issue 26: verifying a large store takes minutes, so it runs as a job
-- (`POST /api/v1/audit/verifications`) with its progress and report kept
-- here. Owned by command-api's verification worker.
CREATE TABLE audit_verifications (
    verification_id uuid        PRIMARY KEY,
    requested_by    uuid        NOT NULL,
    -- queued, running, done, failed (the job itself failed; a store that
    -- does not verify is `done` with `intact = false` in the report)
    status          text        NOT NULL DEFAULT 'queued',
    events_checked  bigint      NOT NULL DEFAULT 0,
    events_total    bigint,
    report          jsonb,
    error           text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX audit_verifications_queued ON audit_verifications (requested_at) WHERE status = 'queued';
