-- Source view `table_lines` of the built-in text layouts (criteo, avazu, ipinyou): one raw line
-- per row, split on $sep, its fields named by position ($names: the layout's declared column
-- list), and `optinter_problem`, what is wrong with the line (NULL when good: the layout's own
-- checks in macros.sql). One raw line is read as one string, so blank lines, wrong field counts
-- and bad values are all seen, each with its line number (optinter_row + $skip).
-- Params: $path, $skip (header lines), $compression (gzip|none), $sep, $layout, $ncols;
-- identifiers: names. ingest_table.sql projects it (optinter.data.table).
SET VARIABLE optinter_path = $path;
SET VARIABLE optinter_skip = $skip;
SET VARIABLE optinter_compression = $compression;
SET VARIABLE optinter_sep = $sep;
SET VARIABLE optinter_layout = $layout;
SET VARIABLE optinter_ncols = $ncols;
CREATE OR REPLACE TEMP VIEW table_lines AS
SELECT line_no AS optinter_row,
       CASE getvariable('optinter_layout')
           WHEN 'criteo' THEN criteo_problem(line, p)
           WHEN 'avazu' THEN avazu_problem(line, p)
           WHEN 'ipinyou' THEN ipinyou_line_problem(line, p, getvariable('optinter_ncols'))
       END AS optinter_problem,
       -- repeat names
       p[{pos}] AS {ident},
       -- end repeat
FROM (
    SELECT row_number() OVER () AS line_no, line, string_split(line, getvariable('optinter_sep')) AS p
    FROM read_csv(getvariable('optinter_path'), columns = {'line': 'VARCHAR'}, delim = chr(1),
                  header = false, quote = '', escape = '', auto_detect = false,
                  skip = getvariable('optinter_skip'), compression = getvariable('optinter_compression'))
);
