-- Accounts, sessions, external identities, and who is in which conversation.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); the API renders them as ISO-8601.

CREATE TABLE users (
  id                 INTEGER PRIMARY KEY,
  email              TEXT    NOT NULL COLLATE NOCASE UNIQUE,
  username           TEXT    NOT NULL UNIQUE,
  first_name         TEXT    NOT NULL COLLATE NOCASE,
  last_name          TEXT    NOT NULL COLLATE NOCASE,
  -- NULL for accounts that only sign in through Facebook or OpenID Connect.
  password_hash      TEXT,
  role               TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled           INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  status_message     TEXT,
  -- Path of the stored profile picture under the data dir's media, signed when served.
  profile_picture    TEXT,
  show_last_seen     INTEGER NOT NULL DEFAULT 1 CHECK (show_last_seen IN (0, 1)),
  show_online_status INTEGER NOT NULL DEFAULT 1 CHECK (show_online_status IN (0, 1)),
  last_active_at     INTEGER,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
) STRICT;

-- Prefix search on names is case-insensitive: the columns are NOCASE, so are these indexes.
CREATE INDEX users_first_name ON users (first_name);
CREATE INDEX users_last_name ON users (last_name);

-- One row per login on a device. Access tokens name their session (claim `sid`), so revoking
-- the row kills them at once.
CREATE TABLE sessions (
  id           TEXT    PRIMARY KEY,          -- UUIDv7
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_id    TEXT,
  device_type  TEXT,
  platform     TEXT,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at   INTEGER NOT NULL,             -- when its refresh token chain ends
  revoked_at   INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Every refresh token ever issued, by SHA-256 of its secret part. A token whose row has
-- `used_at` set was rotated already: presenting it again means it leaked, and the session dies.
CREATE TABLE refresh_tokens (
  token_hash BLOB    PRIMARY KEY,
  session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Accounts at Facebook or an OpenID Connect provider, linked to our users.
CREATE TABLE identities (
  provider   TEXT    NOT NULL,               -- "facebook" or "oidc:<name>"
  subject    TEXT    NOT NULL,               -- the provider's user id
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
) STRICT, WITHOUT ROWID;
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE conversations (
  id          INTEGER PRIMARY KEY,
  type        TEXT    NOT NULL CHECK (type IN ('direct', 'group')),
  title       TEXT,
  description TEXT,
  created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
  -- For direct conversations: "<low user id>:<high user id>", so a pair has at most one.
  direct_key  TEXT    UNIQUE,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE participants (
  conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role            TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
  joined_at       INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;
-- "Which conversations is this user in": the list, access checks, shared-conversation counts.
CREATE INDEX participants_user ON participants (user_id, conversation_id);
