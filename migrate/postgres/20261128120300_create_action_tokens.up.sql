-- Action tokens: single-use, expiring tokens sent by e-mail (verify an
-- address, reset a password, confirm a new address), stored only as the
-- SHA-256 of the token. user_id is NULL for the decoy tokens written for
-- unknown addresses; a user's tokens are deleted with the user.

CREATE TABLE auth_action_tokens (
    hash       bytea       NOT NULL,
    purpose    text        NOT NULL,
    user_id    uuid,
    email      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT auth_action_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT auth_action_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
);

--bun:split

-- A user's tokens of one purpose: replaced by a new request, deleted after
-- a password change; also serves the cascade from auth_users.
CREATE INDEX auth_action_tokens_user_id_idx ON auth_action_tokens (user_id, purpose);

--bun:split

-- Sweeps.
CREATE INDEX auth_action_tokens_expires_at_idx ON auth_action_tokens (expires_at);
