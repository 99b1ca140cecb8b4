-- Jobs by device and conversation, whatever their attempts: a new message collapses into the
-- device's pending job for that conversation even while it waits for a retry (PushStore.enqueue),
-- and removing a device deletes its jobs (ON DELETE CASCADE), both without scanning the outbox.
CREATE INDEX push_jobs_device ON push_jobs (user_id, device_id, collapse_key);
