-- Sessions: one login, a family of refresh tokens stored as SHA-256 hashes.
-- Times are INTEGER Unix milliseconds (UTC).

CREATE TABLE auth_sessions (
    id              TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL,
    refresh_hash    BLOB    NOT NULL,
    previous_hash   BLOB,
    rotated_at      INTEGER,
    created_at      INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    last_used_at    INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    idle_expires_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    user_agent      TEXT    NOT NULL DEFAULT '',
    ip              TEXT    NOT NULL DEFAULT '',
    CONSTRAINT auth_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT auth_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
) STRICT;

--bun:split

CREATE UNIQUE INDEX auth_sessions_refresh_hash_key ON auth_sessions (refresh_hash);

--bun:split

-- Reuse detection finds a session by the hash its last rotation replaced.
CREATE INDEX auth_sessions_previous_hash_idx ON auth_sessions (previous_hash) WHERE previous_hash IS NOT NULL;

--bun:split

-- A user's sessions, newest first: listing and revocation.
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id, created_at DESC);

--bun:split

-- Sweeps.
CREATE INDEX auth_sessions_idle_expires_at_idx ON auth_sessions (idle_expires_at);

--bun:split

CREATE INDEX auth_sessions_expires_at_idx ON auth_sessions (expires_at);
