-- Appends are announced by the writer after commit, at most once per few
-- milliseconds (`platform::wakeup::AppendSignal`), no longer by a trigger.
-- A NOTIFY inside the appending transaction takes PostgreSQL's
-- notification queue lock at commit, which serialises every commit:
-- 3,400 inserts/s with the trigger against 13,000/s without, 16 clients on
-- this machine (docs/performance.md). Projectors still poll, so events
-- written by anything else are read within `PROJECTOR_POLL_MS`.
DROP TRIGGER events_appended ON events;
DROP FUNCTION notify_events_appended();
