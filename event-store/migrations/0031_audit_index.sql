-- The audit log by scope (issue 26): one row per event of a stream that
-- belongs to a project (scope = the project's id) or to a person (scope =
-- the person's id), in catch-up order. A member's `/audit/events` walks the
-- rows of the scopes they may see (themselves and their projects) instead of
-- filtering the whole global stream row by row, so a page costs what the
-- member's own history costs, not what everyone's does. Owned by the
-- `streams` projection, which writes the rows in catch-up order: a row
-- inserted later always stands after every row already there, so paging
-- with a cursor never skips one.
CREATE TABLE rm_audit_index (
    scope           uuid   NOT NULL,
    transaction_id  xid8   NOT NULL,
    global_position bigint NOT NULL,
    PRIMARY KEY (scope, transaction_id, global_position)
);

-- The history written before this migration, for streams the projection
-- has already seen; the projection adds the rest (and skips what is here).
INSERT INTO rm_audit_index (scope, transaction_id, global_position)
SELECT coalesce(s.project_id, s.user_id), e.transaction_id, e.global_position
  FROM events e
  JOIN rm_streams s ON s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id
 WHERE coalesce(s.project_id, s.user_id) IS NOT NULL
ON CONFLICT DO NOTHING;
