-- Source view `table_lines` of format table, delimited text (CSV / TSV, plain or compressed):
-- DuckDB's CSV reader (quotes, escapes) with every column read as text, named by $columns (the
-- header line as optinter.data.table read it, or read.names), the header line skipped; values
-- are checked and typed by ingest_table.sql. Row optinter_row is the data row (add the header
-- line for the physical line). Params: $path, $delim, $skip (header lines), $columns ({name:
-- 'VARCHAR'} in file order), $compression (auto|gzip|zstd|none).
SET VARIABLE optinter_path = $path;
SET VARIABLE optinter_delim = $delim;
SET VARIABLE optinter_skip = $skip;
SET VARIABLE optinter_columns = $columns;
SET VARIABLE optinter_compression = $compression;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT row_number() OVER () AS optinter_row, NULL::VARCHAR AS optinter_problem, *
FROM read_csv(getvariable('optinter_path'), delim = getvariable('optinter_delim'),
              header = false, skip = getvariable('optinter_skip'),
              columns = getvariable('optinter_columns'), auto_detect = false,
              compression = getvariable('optinter_compression'));
