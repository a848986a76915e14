-- The event store. `postgres-es` writes and reads `events` and `snapshots`
-- with every column named explicitly, so the columns it never writes are
-- filled by their defaults and are safe to add.

CREATE TABLE events (
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    -- 1-based position of the event within its aggregate's stream; together
    -- with the two columns above it is the optimistic-concurrency key.
    sequence        bigint NOT NULL CHECK (sequence >= 0),
    event_type      text   NOT NULL,
    event_version   text   NOT NULL,
    payload         jsonb  NOT NULL,
    -- actor, correlation_id, causation_id, client_ip, user_agent.
    metadata        jsonb  NOT NULL,
    -- A total order over all streams. Identity values are handed out before
    -- commit, so this order alone is not safe for catch-up (see below) and
    -- may have gaps (rolled-back inserts).
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    -- The transaction that wrote the event. Readers only read below the
    -- oldest running transaction, in (transaction_id, global_position) order,
    -- which never skips an event that commits late.
    transaction_id  xid8   NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The catch-up order of every projector and of the audit stream.
CREATE UNIQUE INDEX events_catch_up_order ON events (transaction_id, global_position);
-- Looking an event up by the position a client or an auditor holds.
CREATE UNIQUE INDEX events_global_position ON events (global_position);

-- Snapshots, used by aggregates with long streams.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Wake projectors when events commit. One notification per INSERT statement;
-- PostgreSQL folds identical notifications of one transaction into one and
-- delivers them only at commit, so listeners never see uncommitted events.
CREATE FUNCTION notify_events_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zekka_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();

-- One row per projection: the (transaction_id, global_position) of the last
-- event it applied. Advanced in the same transaction as the read-model writes
-- of that batch, so a batch's effect is applied exactly once.
CREATE TABLE projection_checkpoints (
    name            text   PRIMARY KEY,
    transaction_id  xid8   NOT NULL DEFAULT '0',
    global_position bigint NOT NULL DEFAULT 0,
    events_applied  bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
