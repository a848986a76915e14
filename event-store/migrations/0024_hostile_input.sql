-- Security review 2026-12-04 (issue 20): what no tenant may use against
-- another.

-- A rebuild reports the events it passed over because an operator skipped
-- them (`ProjectionEventSkipped`): a list of {position, event_type, reason,
-- skipped_by}, NULL while none.
ALTER TABLE projection_rebuilds ADD COLUMN skipped jsonb;

-- A sent mail keeps no one-time link (security review F13): its body is
-- emptied (NULL) once delivered; recipient, subject and purpose stay for
-- the record.
ALTER TABLE mail_outbox ALTER COLUMN body DROP NOT NULL;
UPDATE mail_outbox SET body = NULL WHERE sent_at IS NOT NULL;

-- Idempotency keys belong to an authenticated principal (`user:<id>` or
-- `key:<id>`), and answers carrying credentials are never kept (security
-- review F6): the shared anonymous scope goes, with the sign-in and
-- refresh answers (access and refresh tokens) it held, and so do kept
-- answers holding a new API key's secret.
DELETE FROM idempotency_keys
 WHERE scope = 'anonymous'
    OR (body IS NOT NULL AND position('"key":"zk_'::bytea IN body) > 0);
UPDATE idempotency_keys SET scope = 'user:' || scope WHERE scope NOT LIKE '%:%';

-- Which agent a task was assigned to, by task id: usage naming a task must
-- name one of its own project's (security review F7).
CREATE INDEX events_task_assigned ON events (((payload -> 'TaskAssigned' ->> 'task_id')::uuid))
 WHERE aggregate_type = 'Agent' AND event_type = 'TaskAssigned';

-- The revocations of the last access-token lifetime, read to rebuild the
-- token deny-lists when Redis has lost them (security review F17).
CREATE INDEX events_revocations ON events (recorded_at)
 WHERE event_type IN ('SessionRevoked', 'PasswordReset', 'UserErased');
