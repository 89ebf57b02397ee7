-- The deny-list, for deployments without Redis. kind: 1 token (jti),
-- 2 session, 3 user (revoked_at is the cutoff). Times are INTEGER Unix
-- milliseconds (UTC).

CREATE TABLE auth_revocations (
    kind       INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CONSTRAINT auth_revocations_pkey PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

--bun:split

-- Sweeps.
CREATE INDEX auth_revocations_expires_at_idx ON auth_revocations (expires_at);
