-- Sessions: one login, a family of refresh tokens stored as SHA-256 hashes.

CREATE TABLE auth_sessions (
    id              uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    refresh_hash    bytea       NOT NULL,
    previous_hash   bytea,
    rotated_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    user_agent      text        NOT NULL DEFAULT '',
    ip              text        NOT NULL DEFAULT '',
    CONSTRAINT auth_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT auth_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE,
    CONSTRAINT auth_sessions_refresh_hash_key UNIQUE (refresh_hash)
);

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
