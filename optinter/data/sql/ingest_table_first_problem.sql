-- The first bad row of the source view checked by ingest_table.sql (only run after its COPY
-- failed): its 1-based data row and what is wrong with it.
SELECT optinter_row, optinter_bad
FROM table_checked
WHERE optinter_bad IS NOT NULL
ORDER BY optinter_row
LIMIT 1;
