DROP TABLE auth_session_hashes;
