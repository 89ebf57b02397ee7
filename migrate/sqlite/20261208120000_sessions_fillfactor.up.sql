-- PostgreSQL's fillfactor for auth_sessions has no SQLite counterpart
-- (B-tree pages, no heap-only tuples); this keeps the two histories alike.

SELECT 1;
