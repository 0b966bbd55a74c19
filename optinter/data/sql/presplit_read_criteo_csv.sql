-- Source view `table_lines` of a reczoo/BARS Criteo_x4 CSV (pre-split train/valid/test files):
-- the header line `Label,I1,...,I13,C1,...,C26` is skipped (readers.resolve_split checked it),
-- fields are comma-separated and unquoted, the integer fields may be written as integer-valued
-- decimals ('5.0', pandas' float output; ingest_table.sql reads them as numbers). Columns by
-- position as read_lines.sql; the checks are criteo_csv_problem (presplit_macros.sql).
-- Params: $path, $skip, $compression (gzip|none); identifiers: names.
SET VARIABLE optinter_path = $path;
SET VARIABLE optinter_skip = $skip;
SET VARIABLE optinter_compression = $compression;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT line_no AS optinter_row,
       criteo_csv_problem(line, p) AS optinter_problem,
       -- repeat names
       p[{pos}] AS {ident},
       -- end repeat
FROM (
    SELECT row_number() OVER () AS line_no, line, string_split(line, ',') AS p
    FROM read_csv(getvariable('optinter_path'), columns = {'line': 'VARCHAR'}, delim = chr(1),
                  header = false, quote = '', escape = '', auto_detect = false,
                  skip = getvariable('optinter_skip'), compression = getvariable('optinter_compression'))
);
