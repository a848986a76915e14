-- The per-stream hash chain is computed by the writer (event-store/src/
-- store), not by a PL/pgSQL trigger per row: the writer already holds the
-- stream's last hash (it loaded the stream to decide the command), prints
-- the payload and metadata exactly as `jsonb` does (`integrity::jsonb_text`)
-- and sets `recorded_at` itself, so each insert no longer reads its
-- predecessor's row and runs `event_hash` inside PostgreSQL. The bytes
-- hashed are unchanged: every stored hash stays valid and `zekka audit
-- verify` checks old and new events alike.
--
-- An insert still proves its link: the append compares the hash the writer
-- chained from with the predecessor's stored one, in the same statement,
-- and calls this function when they differ (the predecessor was rewritten,
-- say by `zekka audit reseal`, after the writer read it). It fails the
-- statement as a unique violation does, so the writer treats it as any
-- concurrent write: it reads the stream again and decides again.
CREATE FUNCTION events_predecessor_moved(aggregate_type text, aggregate_id text, sequence bigint)
RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'event % of %/% does not follow the predecessor its writer read',
        sequence, aggregate_type, aggregate_id
        USING ERRCODE = 'unique_violation';
END;
$$;

-- Without the trigger, a row inserted by hand carries whatever hash it is
-- given: one that is not its chain's is named by `zekka audit verify`.
-- The function stays for bulk loads written by hand (the benchmarks'
-- fixtures), which chain their rows by creating a trigger on it for the
-- load and dropping it after.
DROP TRIGGER events_chain ON events;

