-- Messages, their edits and reactions, read/delivery watermarks, full-text search.

-- Receipts as watermarks: every message up to this seq was delivered to / read by this
-- participant. Receipts are monotonic, so a pair of integers per participant holds them all.
ALTER TABLE participants ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE conversations ADD COLUMN last_message_seq INTEGER;

CREATE TABLE messages (
  -- Insertion order across the server: history cursors and watermarks compare seqs.
  seq               INTEGER PRIMARY KEY,
  id                TEXT    NOT NULL UNIQUE,   -- UUIDv7, the public message_id
  conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  sender_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
  type              TEXT    NOT NULL CHECK (type IN ('text', 'image', 'video', 'audio', 'file')),
  content           TEXT,                      -- NULL once deleted (a tombstone)
  reply_to          TEXT,                      -- message_id replied to
  client_message_id TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  deleted_at        INTEGER
) STRICT;
-- History pages, unread counts and catch-up: one range of this index each. sender_id and
-- deleted_at ride along so that counting unread messages never reads the table itself.
CREATE INDEX messages_conversation ON messages (conversation_id, seq, sender_id, deleted_at);
-- Idempotent sends: a sender's client_message_id names one message per conversation.
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, sender_id, client_message_id)
  WHERE client_message_id IS NOT NULL;
-- A sender's messages: erasing an account's messages, and the ON DELETE SET NULL above when an
-- account is deleted. Without it both read every message, holding the write lock meanwhile.
CREATE INDEX messages_sender ON messages (sender_id);

CREATE TABLE message_edits (
  message_seq      INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
  edited_at        INTEGER NOT NULL,
  previous_content TEXT,
  edit_reason      TEXT
) STRICT;
CREATE INDEX message_edits_message ON message_edits (message_seq, edited_at);

CREATE TABLE reactions (
  message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
  emoji       TEXT    NOT NULL,
  user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (message_seq, emoji, user_id)
) STRICT, WITHOUT ROWID;
-- For the ON DELETE CASCADE when an account is deleted (else a scan of every reaction).
CREATE INDEX reactions_user ON reactions (user_id);

-- Full-text index over message text (external content: the text is stored once, in messages).
-- New messages are indexed shortly after they are sent, in batches, not inside the send's
-- transaction (it was a third of a send's cost); fts_indexed is how far indexing has got.
-- Search first brings the index up to date, so a reader always finds what was sent.
-- Edits and deletes of rows already indexed keep the index in sync by triggers; rows not yet
-- indexed are indexed with whatever text they have by then.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
  content,
  content = 'messages',
  content_rowid = 'seq',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE fts_indexed (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL   -- every message with seq <= this is in messages_fts
) STRICT;
INSERT INTO fts_indexed (id, seq) VALUES (1, 0);

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.seq <= (SELECT seq FROM fts_indexed WHERE id = 1) BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content)
    SELECT 'delete', old.seq, old.content WHERE old.content IS NOT NULL;
  INSERT INTO messages_fts (rowid, content)
    SELECT new.seq, new.content WHERE new.content IS NOT NULL;
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.content IS NOT NULL AND old.seq <= (SELECT seq FROM fts_indexed WHERE id = 1) BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;
