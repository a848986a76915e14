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
