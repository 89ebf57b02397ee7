-- The deny-list, for deployments without Redis. kind: 1 token (jti),
-- 2 session, 3 user (revoked_at is the cutoff).

CREATE TABLE auth_revocations (
    kind       smallint    NOT NULL,
    id         text        NOT NULL,
    revoked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT auth_revocations_pkey PRIMARY KEY (kind, id)
);

--bun:split

-- Sweeps.
CREATE INDEX auth_revocations_expires_at_idx ON auth_revocations (expires_at);
