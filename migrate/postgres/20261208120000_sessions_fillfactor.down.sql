ALTER TABLE auth_sessions RESET (fillfactor);
