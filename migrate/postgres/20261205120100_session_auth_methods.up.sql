-- What a login proved (RFC 8176 amr, space-separated) and when the user
-- last authenticated; access tokens carry both, step-up moves them.
-- Sessions stored before were password logins: '' reads as "pwd", a NULL
-- auth_time as created_at.

ALTER TABLE auth_sessions ADD COLUMN amr text NOT NULL DEFAULT '';

--bun:split

ALTER TABLE auth_sessions ADD COLUMN auth_time timestamptz;
