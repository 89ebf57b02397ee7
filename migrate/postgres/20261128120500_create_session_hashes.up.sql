-- Every refresh hash a session has replaced, kept until the session is
-- deleted, so that a token several rotations old is recognised as reuse
-- (theft) rather than as an unknown token (RFC 9700 §4.14.2).

CREATE TABLE auth_session_hashes (
    hash       bytea NOT NULL,
    session_id uuid  NOT NULL,
    CONSTRAINT auth_session_hashes_pkey PRIMARY KEY (hash),
    CONSTRAINT auth_session_hashes_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth_sessions (id) ON DELETE CASCADE
);

--bun:split

-- Serves the cascade from auth_sessions.
CREATE INDEX auth_session_hashes_session_id_idx ON auth_session_hashes (session_id);
