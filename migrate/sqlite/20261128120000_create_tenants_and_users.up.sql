-- Tenants and users. Column names follow the system this library replaces.
-- Times are INTEGER milliseconds since the Unix epoch (UTC): exact at the
-- millisecond, compared as numbers, free of text-format pitfalls. Read them
-- with strftime('%Y-%m-%dT%H:%M:%fZ', col / 1000.0, 'unixepoch').
-- Tables are STRICT (SQLite 3.37+), so a value of the wrong type is refused.

CREATE TABLE auth_tenants (
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    slug       TEXT    NOT NULL,
    is_active  INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    CONSTRAINT auth_tenants_pkey PRIMARY KEY (id)
) STRICT;

--bun:split

CREATE UNIQUE INDEX auth_tenants_slug_key ON auth_tenants (slug);

--bun:split

CREATE TABLE auth_users (
    id            TEXT    NOT NULL,
    tenant_id     TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT 'viewer',
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    is_verified   INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    created_at    INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    updated_at    INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
    last_login_at INTEGER,
    meta          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
    CONSTRAINT auth_users_pkey PRIMARY KEY (id),
    CONSTRAINT auth_users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES auth_tenants (id)
) STRICT;

--bun:split

-- Emails arrive normalised (auth.NormalizeEmail); this index serves look-ups.
CREATE UNIQUE INDEX auth_users_email_key ON auth_users (email);

--bun:split

-- Uniqueness regardless of (ASCII) case, even for rows written by other tools.
CREATE UNIQUE INDEX auth_users_email_lower_key ON auth_users (lower(email));

--bun:split

-- A tenant's users by ID: listing with a cursor.
CREATE INDEX auth_users_tenant_id_idx ON auth_users (tenant_id, id);

--bun:split

INSERT INTO auth_tenants (id, name, slug)
VALUES ('00000000-0000-0000-0000-000000000001', 'Default', 'default');
