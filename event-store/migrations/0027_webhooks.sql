-- Issue 22: webhooks. command-api writes both tables: `webhooks` when a
-- webhook is added or removed (the events on the project's stream are the
-- audit record; the signing secret is kept only here), `webhook_outbox`
-- from its follower of the event stream, in the transaction that moves the
-- follower's checkpoint (so each event is enqueued exactly once), and the
-- deliverer deletes a row once its receiver took it.

CREATE TABLE webhooks (
    webhook_id       uuid        PRIMARY KEY,
    project_id       uuid        NOT NULL,
    url              text        NOT NULL,
    events           text[]      NOT NULL,
    secret           text        NOT NULL,
    created_by       uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    removed_at       timestamptz,
    delivered        bigint      NOT NULL DEFAULT 0,
    last_delivery_at timestamptz,
    last_status      integer,
    last_error       text,
    failing_since    timestamptz
);
CREATE INDEX webhooks_by_project ON webhooks (project_id) WHERE removed_at IS NULL;

CREATE TABLE webhook_outbox (
    id              bigserial   PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    global_position bigint      NOT NULL,
    kind            text        NOT NULL,
    body            text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Each webhook's head, in order.
CREATE INDEX webhook_outbox_head ON webhook_outbox (webhook_id, id);
