ALTER TABLE auth_sessions DROP COLUMN auth_time;

--bun:split

ALTER TABLE auth_sessions DROP COLUMN amr;
