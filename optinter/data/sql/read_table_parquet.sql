-- Source view `table_lines` of format table, a Parquet file: its columns with their own types
-- (ingest_table.sql casts them). Params: $path.
SET VARIABLE optinter_path = $path;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT row_number() OVER () AS optinter_row, NULL::VARCHAR AS optinter_problem, *
FROM read_parquet(getvariable('optinter_path'));
