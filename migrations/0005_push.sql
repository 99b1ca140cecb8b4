-- Push notifications: registered devices, preferences, and the durable outbox.

CREATE TABLE devices (
  user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_id     TEXT    NOT NULL,
  platform      TEXT    NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
  -- APNs device token, FCM registration token, or the Web Push subscription as JSON.
  token         TEXT    NOT NULL,
  app_version   TEXT,
  registered_at INTEGER NOT NULL,
  last_used_at  INTEGER,
  PRIMARY KEY (user_id, device_id)
) STRICT, WITHOUT ROWID;
-- One physical device belongs to one account: re-registering a token moves it.
CREATE UNIQUE INDEX devices_token ON devices (platform, token);

-- The seed's preferences document, validated on the way in.
CREATE TABLE notification_preferences (
  user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  document   TEXT    NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

-- The outbox: written in the transaction that stores the message, deleted once the provider
-- accepted the push. A pending job for the same device and conversation absorbs newer
-- messages (collapse), so an offline phone gets one notification, not fifty.
CREATE TABLE push_jobs (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL,
  device_id       TEXT    NOT NULL,
  collapse_key    TEXT    NOT NULL,
  payload         TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  -- Set when the worker gave up; such rows stay a day for operators, then are pruned.
  failed_at       INTEGER,
  last_error      TEXT,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX push_jobs_due ON push_jobs (next_attempt_at) WHERE failed_at IS NULL;
CREATE UNIQUE INDEX push_jobs_collapse ON push_jobs (user_id, device_id, collapse_key) WHERE attempts = 0 AND failed_at IS NULL;
