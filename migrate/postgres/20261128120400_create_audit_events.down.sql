DROP TABLE auth_audit_events;
