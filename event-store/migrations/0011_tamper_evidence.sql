-- Tamper evidence for the event store (see docs/audit.md).
--
-- 1. Every event carries `hash`: SHA-256 over its content and the hash of
--    its predecessor in the same stream, computed here on insert so the
--    `postgres-es` write path stays as it is. Changing, removing or
--    reordering an event inside a stream breaks the chain from there on.
-- 2. `audit_checkpoints` hold a running hash over the global commit order
--    up to a position, signed with the server's key (a PASETO v4.public
--    document an auditor can keep outside the system), which catches what
--    per-stream chains cannot: a stream's last event removed, or events of
--    different streams reordered.
--
-- `zekka audit verify` and `GET /api/v1/audit/verify` recompute both in Rust
-- from the stored content, never trusting the functions below.

-- The bytes an event's hash covers, each field length-prefixed (in bytes)
-- so no two different events can produce the same input:
--   prev_hash_hex, aggregate_type, aggregate_id, sequence, event_type,
--   event_version, payload (jsonb text), metadata (jsonb text),
--   recorded_at (microseconds since the Unix epoch).
CREATE FUNCTION event_hash(
    prev bytea, aggregate_type text, aggregate_id text, sequence bigint, event_type text,
    event_version text, payload jsonb, metadata jsonb, recorded_at timestamptz
) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(
        (SELECT string_agg(octet_length(convert_to(field, 'UTF8')) || ':' || field, '' ORDER BY n)
           FROM unnest(ARRAY[
                coalesce(encode(prev, 'hex'), ''),
                aggregate_type,
                aggregate_id,
                sequence::text,
                event_type,
                event_version,
                payload::text,
                metadata::text,
                ((extract(epoch FROM recorded_at) * 1000000)::bigint)::text
           ]) WITH ORDINALITY AS f(field, n)),
        'UTF8'))
$$;

ALTER TABLE events ADD COLUMN hash bytea;

-- Chain the events already stored, stream by stream in sequence order.
DO $$
DECLARE
    e record;
    prev bytea;
    stream text := NULL;
BEGIN
    FOR e IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
        IF stream IS DISTINCT FROM e.aggregate_type || '/' || e.aggregate_id THEN
            prev := NULL;
            stream := e.aggregate_type || '/' || e.aggregate_id;
        END IF;
        prev := event_hash(prev, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                           e.event_version, e.payload, e.metadata, e.recorded_at);
        UPDATE events SET hash = prev
         WHERE aggregate_type = e.aggregate_type AND aggregate_id = e.aggregate_id
           AND sequence = e.sequence;
    END LOOP;
END;
$$;

ALTER TABLE events ALTER COLUMN hash SET NOT NULL;

-- Defaults (`recorded_at`, `global_position`) are filled before BEFORE ROW
-- triggers run, so the hash covers the stored time. The predecessor is
-- committed (or earlier in the same transaction): a writer appends only
-- after loading the stream, and the primary key refuses a second writer.
CREATE FUNCTION events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    prev bytea;
BEGIN
    SELECT hash INTO prev FROM events
     WHERE aggregate_type = NEW.aggregate_type AND aggregate_id = NEW.aggregate_id
       AND sequence = NEW.sequence - 1;
    NEW.hash := event_hash(prev, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type,
                           NEW.event_version, NEW.payload, NEW.metadata, NEW.recorded_at);
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_chain
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain();

-- Signed checkpoints of the global commit order. `running_hash` is
-- SHA-256 folded over every event up to and including this position, in
-- (transaction_id, global_position) order:
--   running = sha256(previous running || event hash || global_position as 8 bytes big-endian)
-- starting from 32 zero bytes. `document` is the PASETO v4.public token
-- that signs (position, event_count, running_hash).
CREATE TABLE audit_checkpoints (
    transaction_id  xid8   NOT NULL,
    global_position bigint NOT NULL,
    event_count     bigint NOT NULL,
    running_hash    bytea  NOT NULL,
    document        text   NOT NULL,
    key_id          text   NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, global_position)
);
