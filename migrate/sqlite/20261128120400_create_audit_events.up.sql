-- The audit log: one row per security event (auth.Event), never updated.
-- id is a UUIDv7 made when the event is recorded, so it orders events in
-- time and is the paging cursor. The ID columns are NULL when the event
-- has none, the free-text ones '' (so the partial index on actor_id holds
-- administrative actions only). No foreign keys: the log outlives users
-- and tenants. time is INTEGER Unix milliseconds (UTC). An ordinary rowid
-- table: rows hold user agents of up to 512 bytes, too wide for WITHOUT
-- ROWID to pay.

CREATE TABLE auth_audit_events (
    id         TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    time       INTEGER NOT NULL,
    tenant_id  TEXT,
    user_id    TEXT,
    actor_id   TEXT,
    session_id TEXT,
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    CONSTRAINT auth_audit_events_pkey PRIMARY KEY (id)
) STRICT;

--bun:split

-- A tenant's events, newest first.
CREATE INDEX auth_audit_events_tenant_id_idx ON auth_audit_events (tenant_id, id DESC);

--bun:split

-- Events about a user, and events a user performed as an administrator.
CREATE INDEX auth_audit_events_user_id_idx ON auth_audit_events (tenant_id, user_id, id);

--bun:split

CREATE INDEX auth_audit_events_actor_id_idx ON auth_audit_events (tenant_id, actor_id, id) WHERE actor_id IS NOT NULL;

--bun:split

-- Events of one type.
CREATE INDEX auth_audit_events_type_idx ON auth_audit_events (tenant_id, type, id);

--bun:split

-- Time windows that lie in the past (recent ones are read through the
-- tenant index). Retention deletes by id, through the primary key.
CREATE INDEX auth_audit_events_time_idx ON auth_audit_events (tenant_id, time);
