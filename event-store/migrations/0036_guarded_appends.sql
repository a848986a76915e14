-- Guarded appends (event-store/src/store/guard.rs): a command decided on
-- facts from another stream's state in memory (who may write to the
-- project, the price in force) appends only if that stream has no event
-- that would change them after the sequence the facts were read at. The
-- append statement checks it with one index probe and calls this when the
-- stream moved; its own SQLSTATE tells the writer to build the command
-- again on fresh facts, where a unique violation (a concurrent append to
-- the same stream) only asks it to decide again.
CREATE FUNCTION events_guard_moved(aggregate_type text, aggregate_id text)
RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'the facts read from %/% changed before the append', aggregate_type, aggregate_id
        USING ERRCODE = 'ZK001';
END;
$$;
