-- Issue 26: history rewritten in place, and only with the audit showing it.
--
-- Events written before request addresses and user agents were sealed
-- (issue 26) hold them in plaintext in `metadata`, which the hash chain
-- covers. `zekka audit reseal-metadata` seals them with each actor's key
-- (an erased actor's are dropped), recomputes the changed streams' hashes
-- from there on, re-signs every checkpoint whose running hash changed, and
-- records here what it did: each rewritten event's hash before and after,
-- each checkpoint it replaced, and one signed document over all of it.
-- Verification checks the document and that every replaced checkpoint
-- still holds with the old hashes put back: only the listed events changed.
CREATE TABLE audit_rewrites (
    rewrite_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason                 text        NOT NULL,
    performed_at           timestamptz NOT NULL DEFAULT now(),
    events_rewritten       bigint      NOT NULL,
    events_resealed        bigint      NOT NULL,
    checkpoints_superseded bigint      NOT NULL,
    -- SHA-256 over the rewritten events in commit order (docs/audit.md)
    digest                 bytea       NOT NULL,
    -- PASETO v4.public over the row's fields (zekka:audit-rewrite:v1)
    document               text        NOT NULL,
    key_id                 text        NOT NULL
);

CREATE TABLE audit_rewritten_events (
    rewrite_id      bigint  NOT NULL REFERENCES audit_rewrites,
    transaction_id  xid8    NOT NULL,
    global_position bigint  NOT NULL,
    old_hash        bytea   NOT NULL,
    new_hash        bytea   NOT NULL,
    -- its metadata was sealed (otherwise only its predecessor's hash changed)
    resealed        boolean NOT NULL,
    PRIMARY KEY (rewrite_id, transaction_id, global_position)
);

CREATE TABLE audit_superseded_checkpoints (
    rewrite_id      bigint      NOT NULL REFERENCES audit_rewrites,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    event_count     bigint      NOT NULL,
    running_hash    bytea       NOT NULL,
    document        text        NOT NULL,
    key_id          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (rewrite_id, transaction_id, global_position)
);
