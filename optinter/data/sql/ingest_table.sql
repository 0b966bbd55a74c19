-- The one reader's projection: the source view `table_rows` (read_*.sql: a built-in layout's
-- lines, or format table's CSV / Parquet / JSON file) -> raw.parquet with `row_id` (0-based data
-- row), `label` (int8), the declared numeric columns (DOUBLE, NULL when missing) and the declared
-- categorical columns (text, never NULL: a missing value becomes the column's $missing, '' by
-- default: its own category), in that order. A row with a problem aborts the COPY through
-- error(); the caller then asks ingest_table_first_problem.sql for the first one.
-- $check: run the per-value checks of format table (label 0/1, numbers); a built-in layout's
-- own line checks (optinter_problem) already cover its values.
-- The built-in layouts' numeric columns are `integer` (BIGINT, exact to int64; DuckDB casts
-- a BARS CSV's '5.0', which its line check admits, to 5), format table's are `numeric` (DOUBLE); a spec has one or the other.
-- The built-in layouts' categorical columns are `text`: already text, never NULL, taken as
-- they are (their missing value is their own, '' or 'null').
-- Params: $check, $label (its name), $numeric (names), $missing (one per categorical), $out,
-- $meta; identifiers: label (one), integer, numeric, categorical, text.
SET VARIABLE optinter_check = $check;
SET VARIABLE optinter_label = $label;
SET VARIABLE optinter_numeric = $numeric;
SET VARIABLE optinter_missing = $missing;
CREATE OR REPLACE TEMP VIEW table_checked AS
SELECT *,
       coalesce(optinter_problem, CASE WHEN getvariable('optinter_check') THEN list_filter([
           -- repeat label
           label_problem(getvariable('optinter_label'), {ident}),
           -- end repeat
           -- repeat numeric
           number_problem(getvariable('optinter_numeric')[{pos}], {ident}),
           -- end repeat
       ], lambda m: m IS NOT NULL)[1] END) AS optinter_bad
FROM table_rows;
COPY (
    SELECT optinter_row - 1 AS row_id,
           CASE WHEN optinter_bad IS NOT NULL THEN error(optinter_bad)
                -- repeat label
                WHEN getvariable('optinter_check') THEN label_code({ident})
                ELSE CAST({ident} AS TINYINT)  -- a built-in layout's checked '0' / '1'
                -- end repeat
           END AS label,
           -- repeat integer
           TRY_CAST({ident} AS BIGINT) AS {ident},
           -- end repeat
           -- repeat numeric
           TRY_CAST({ident} AS DOUBLE) AS {ident},
           -- end repeat
           -- repeat categorical
           coalesce(nullif(CAST({ident} AS VARCHAR), ''), getvariable('optinter_missing')[{pos}]) AS {ident},
           -- end repeat
           -- repeat text
           {ident},
           -- end repeat
    FROM table_checked
) TO $out (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 262144, KV_METADATA {optinter: $meta});
