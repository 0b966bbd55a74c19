-- Source view `table_lines` of format table, JSON lines (one object per line, plain or
-- compressed). Params: $path, $compression (auto|gzip|zstd|none).
SET VARIABLE optinter_path = $path;
SET VARIABLE optinter_compression = $compression;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT row_number() OVER () AS optinter_row, NULL::VARCHAR AS optinter_problem, *
FROM read_json(getvariable('optinter_path'), format = 'newline_delimited',
               compression = getvariable('optinter_compression'));
