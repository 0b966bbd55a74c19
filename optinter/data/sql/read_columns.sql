-- The columns of the source view `table_rows` (format table: checked against the declared ones).
SELECT column_name FROM (DESCRIBE table_rows);
