-- The highest fencing token ever issued for a file is read from the
-- FileLockAcquired events when Redis has lost its counter (a restart), so
-- tokens keep increasing. This partial index makes that read a lookup.
CREATE INDEX events_lock_fences
    ON events ((payload -> 'FileLockAcquired' ->> 'project_id'), (payload -> 'FileLockAcquired' ->> 'file_path'))
    WHERE event_type = 'FileLockAcquired';
