-- One snapshot row per stream. postgres-es keyed snapshots by
-- (aggregate_type, aggregate_id, last_sequence) and updated the row in
-- place; the command side's own append (one statement: events and, when
-- due, the snapshot) upserts on the stream instead, so the key is the
-- stream. Only the newest snapshot of a stream is kept.
DELETE FROM snapshots s
 USING snapshots newer
 WHERE newer.aggregate_type = s.aggregate_type
   AND newer.aggregate_id = s.aggregate_id
   AND newer.last_sequence > s.last_sequence;

ALTER TABLE snapshots DROP CONSTRAINT snapshots_pkey;
ALTER TABLE snapshots ADD PRIMARY KEY (aggregate_type, aggregate_id);
