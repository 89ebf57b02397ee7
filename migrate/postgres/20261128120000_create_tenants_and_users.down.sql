DROP TABLE auth_users;

--bun:split

DROP TABLE auth_tenants;
