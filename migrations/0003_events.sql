-- The durable event journal (CONTRACT §8): every server event about a conversation or a user is
-- recorded in the same transaction as the change, so a client that reconnects with its last
-- event_id gets exactly what it missed. Kept for a retention window, then pruned.

CREATE TABLE events (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after pruning
  type            TEXT    NOT NULL,                    -- domain event name, e.g. message.created
  conversation_id INTEGER,                             -- seen by that conversation's participants
  payload         TEXT    NOT NULL,                    -- the domain event as JSON
  created_at      INTEGER NOT NULL
) STRICT;
-- No index on created_at: ids grow with time, so pruning walks the id order (see JournalStore),
-- and every event written does not pay for a second index.

-- Users who see an event although they are not (or no longer) participants: someone removed
-- from a group is still told about it.
CREATE TABLE event_recipients (
  user_id  INTEGER NOT NULL,
  event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX event_recipients_event ON event_recipients (event_id);

-- Highest event id pruned so far: a client resuming from before it must resync.
CREATE TABLE events_pruned (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  through INTEGER NOT NULL
) STRICT;
INSERT INTO events_pruned (id, through) VALUES (1, 0);
