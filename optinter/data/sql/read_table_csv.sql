-- Source view `table_lines` of format table, delimited text (CSV / TSV, plain or compressed):
-- DuckDB's CSV reader (quotes, escapes) with every column read as text; values are checked and
-- typed by ingest_table.sql. Row optinter_row is the data row (add the header line for the
-- physical line). Params: $path, $delim, $header (bool), $names (column names when there is no
-- header, else []), $compression (auto|gzip|zstd|none).
SET VARIABLE optinter_path = $path;
SET VARIABLE optinter_delim = $delim;
SET VARIABLE optinter_header = $header;
SET VARIABLE optinter_names = $names;
SET VARIABLE optinter_compression = $compression;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT row_number() OVER () AS optinter_row, NULL::VARCHAR AS optinter_problem, *
FROM read_csv(getvariable('optinter_path'), delim = getvariable('optinter_delim'),
              header = getvariable('optinter_header'), names = getvariable('optinter_names'),
              all_varchar = true, compression = getvariable('optinter_compression'));
