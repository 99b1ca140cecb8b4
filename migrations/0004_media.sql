-- Media (CONTRACT §10): uploads, the messages that carry them, profile pictures.
-- The bytes live in the media storage (files under <data-dir>/media/), named by the sha256 of
-- their content, so identical uploads share one stored copy; these rows say who may reach them.
-- users.profile_picture (0001) holds the id of the media_files row of the current picture.

CREATE TABLE media_files (
  id              TEXT    PRIMARY KEY,                 -- UUID, the public file_id
  uploader_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
  -- The conversation it was uploaded to; NULL for a profile picture.
  conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
  purpose         TEXT    NOT NULL CHECK (purpose IN ('message', 'avatar')),
  message_type    TEXT    CHECK (message_type IN ('image', 'video', 'audio', 'file')),
  mime            TEXT    NOT NULL,                    -- sniffed from the bytes, never the client's word
  size            INTEGER NOT NULL,                    -- bytes served (after metadata was stripped)
  blob            TEXT    NOT NULL,                    -- storage key: sha256 of the served bytes
  thumb_blob      TEXT,                                -- storage key of the thumbnail, if any
  width           INTEGER,
  height          INTEGER,
  file_name       TEXT,                                -- the client's name, for Content-Disposition
  status          TEXT    NOT NULL CHECK (status IN ('completed', 'failed')),
  created_at      INTEGER NOT NULL,
  -- Set when the last reference went (its message deleted, the picture replaced): from then on
  -- it is not served, and `confab media gc` removes it.
  released_at     INTEGER
) STRICT;
-- gc asks "does any row still use this stored object?" for each object it finds.
CREATE INDEX media_files_blob ON media_files (blob);
CREATE INDEX media_files_thumb_blob ON media_files (thumb_blob) WHERE thumb_blob IS NOT NULL;
-- A user's uploads: erasing an account releases them (and the foreign key's SET NULL needs it).
CREATE INDEX media_files_uploader ON media_files (uploader_id);
-- gc finds uploads never sent, oldest first.
CREATE INDEX media_files_created ON media_files (created_at);

-- gc keeps whatever is somebody's current profile picture.
CREATE INDEX users_profile_picture ON users (profile_picture) WHERE profile_picture IS NOT NULL;

-- Which uploads a message carries, in order. Deleting the message (a tombstone) deletes these.
CREATE TABLE message_attachments (
  message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  media_id    TEXT    NOT NULL REFERENCES media_files (id),
  PRIMARY KEY (message_seq, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_attachments_media ON message_attachments (media_id);
