DROP TABLE auth_action_tokens;
