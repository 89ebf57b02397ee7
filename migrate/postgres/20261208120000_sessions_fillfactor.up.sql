-- Leave a fifth of each page of auth_sessions free, so that updates of
-- columns no index covers (revoked_at at logout everywhere, last_used_at)
-- stay on their page as heap-only tuples (HOT) and add no index entries.
-- Pages filled to 100 %, as a bulk load leaves them, made every such
-- update write one entry into each of the table's six indexes. Applies to
-- pages filled from now on; existing ones gain room as sessions expire
-- and are swept (or at once with VACUUM FULL or pg_repack).

ALTER TABLE auth_sessions SET (fillfactor = 80);
