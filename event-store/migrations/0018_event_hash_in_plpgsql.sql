-- The same hash as migration 0011's `event_hash`, byte for byte, computed
-- in PL/pgSQL. The SQL-language version could not be inlined (it has a
-- sub-select), so PostgreSQL parsed and planned its body again for every
-- event inserted: with it, an insert cost five times a plain one
-- (docs/performance.md). PL/pgSQL keeps the plan of its expression for the
-- session. Every stored hash stays valid: the input bytes are unchanged
-- (each field as its UTF-8 length, ':' and the field, in the same order).
CREATE OR REPLACE FUNCTION event_hash(
    prev bytea, aggregate_type text, aggregate_id text, sequence bigint, event_type text,
    event_version text, payload jsonb, metadata jsonb, recorded_at timestamptz
) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    prev_hex text := coalesce(encode(prev, 'hex'), '');
    sequence_text text := sequence::text;
    payload_text text := payload::text;
    metadata_text text := metadata::text;
    recorded_text text := ((extract(epoch FROM recorded_at) * 1000000)::bigint)::text;
BEGIN
    RETURN sha256(convert_to(
        octet_length(convert_to(prev_hex, 'UTF8')) || ':' || prev_hex
        || octet_length(convert_to(aggregate_type, 'UTF8')) || ':' || aggregate_type
        || octet_length(convert_to(aggregate_id, 'UTF8')) || ':' || aggregate_id
        || octet_length(convert_to(sequence_text, 'UTF8')) || ':' || sequence_text
        || octet_length(convert_to(event_type, 'UTF8')) || ':' || event_type
        || octet_length(convert_to(event_version, 'UTF8')) || ':' || event_version
        || octet_length(convert_to(payload_text, 'UTF8')) || ':' || payload_text
        || octet_length(convert_to(metadata_text, 'UTF8')) || ':' || metadata_text
        || octet_length(convert_to(recorded_text, 'UTF8')) || ':' || recorded_text,
        'UTF8'));
END;
$$;
