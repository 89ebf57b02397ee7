-- TOTP second factor (package factor/totp): one secret per user, sealed
-- with AES-256-GCM under the key key_id names (the application holds the
-- keys; the database never sees a secret in clear). A secret is pending
-- until its first code confirms it; last_step is the time step of the last
-- code accepted, so a code is used at most once. Deleted with the user.
-- Times are INTEGER Unix milliseconds (UTC).

CREATE TABLE auth_totp_secrets (
    user_id      TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    sealed       BLOB    NOT NULL,
    confirmed    INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    confirmed_at INTEGER,
    CONSTRAINT auth_totp_secrets_pkey PRIMARY KEY (user_id),
    CONSTRAINT auth_totp_secrets_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

--bun:split

-- Recovery codes, stored only as SHA-256(user ID + code); a code is used
-- up by deleting its row. Deleted with the user; the primary key serves
-- the cascade.

CREATE TABLE auth_recovery_codes (
    user_id    TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    CONSTRAINT auth_recovery_codes_pkey PRIMARY KEY (user_id, hash),
    CONSTRAINT auth_recovery_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
