-- Operating projections (docs/operations.md): each projection's health, and
-- rebuilds on demand.

-- `running` or `failed`; a failed projection names the event it could not
-- apply and keeps retrying it (nothing after it is applied until it passes).
ALTER TABLE projection_checkpoints
    ADD COLUMN status           text NOT NULL DEFAULT 'running',
    ADD COLUMN error            text,
    ADD COLUMN error_position   bigint,
    ADD COLUMN error_event_type text,
    ADD COLUMN failing_since    timestamptz;

-- One row per projection ever rebuilt: the latest rebuild's progress and
-- outcome. The rebuild itself writes into the schema `zekka_rebuild_<name>`
-- with its own checkpoint (`<name>@rebuild`), and swaps its tables in when
-- it has caught up with the live model.
CREATE TABLE projection_rebuilds (
    name         text PRIMARY KEY,
    -- requested, running, completed or failed.
    status       text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    -- Heartbeat of the process running it: a `running` rebuild whose
    -- heartbeat stopped was interrupted, and resumes when requested again.
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    done         bigint NOT NULL DEFAULT 0,
    total        bigint NOT NULL DEFAULT 0,
    -- Tables whose rebuilt rows differ from the live ones, with samples.
    differences  jsonb,
    error        text
);
