-- Action tokens: single-use, expiring tokens sent by e-mail (verify an
-- address, reset a password, confirm a new address), stored only as the
-- SHA-256 of the token. user_id is NULL for the decoy tokens written for
-- unknown addresses; a user's tokens are deleted with the user. Times are
-- INTEGER Unix milliseconds (UTC).

CREATE TABLE auth_action_tokens (
    hash       BLOB    NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    TEXT,
    email      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    expires_at INTEGER NOT NULL,
    CONSTRAINT auth_action_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT auth_action_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

--bun:split

-- A user's tokens of one purpose: replaced by a new request, deleted after
-- a password change; also serves the cascade from auth_users.
CREATE INDEX auth_action_tokens_user_id_idx ON auth_action_tokens (user_id, purpose);

--bun:split

-- Sweeps.
CREATE INDEX auth_action_tokens_expires_at_idx ON auth_action_tokens (expires_at);
