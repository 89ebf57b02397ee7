-- Tenants and users. Column names follow the system this library replaces,
-- so an import is a plain INSERT ... SELECT.

CREATE TABLE auth_tenants (
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    slug       text        NOT NULL,
    is_active  boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT auth_tenants_pkey PRIMARY KEY (id),
    CONSTRAINT auth_tenants_slug_key UNIQUE (slug)
);

--bun:split

CREATE TABLE auth_users (
    id            uuid        NOT NULL,
    tenant_id     uuid        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    name          text        NOT NULL DEFAULT '',
    role          text        NOT NULL DEFAULT 'viewer',
    is_active     boolean     NOT NULL DEFAULT true,
    is_verified   boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    meta          jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT auth_users_pkey PRIMARY KEY (id),
    CONSTRAINT auth_users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES auth_tenants (id),
    -- Emails arrive normalised (auth.NormalizeEmail); this index serves look-ups.
    CONSTRAINT auth_users_email_key UNIQUE (email)
);

--bun:split

-- Uniqueness regardless of case, even for rows written by other tools.
CREATE UNIQUE INDEX auth_users_email_lower_key ON auth_users (lower(email));

--bun:split

-- A tenant's users by ID: listing with a cursor.
CREATE INDEX auth_users_tenant_id_idx ON auth_users (tenant_id, id);

--bun:split

INSERT INTO auth_tenants (id, name, slug)
VALUES ('00000000-0000-0000-0000-000000000001', 'Default', 'default');
