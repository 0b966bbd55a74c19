-- Rows whose label is not 0/1 (NULL included), with the first offending row of the file
-- (0-based) so the error can point at it. Parameter: $path (Parquet file).
SELECT
    count(*) AS n_rows,
    count(*) FILTER (WHERE label IS NULL OR label NOT IN (0, 1)) AS n_bad,
    min(file_row_number) FILTER (WHERE label IS NULL OR label NOT IN (0, 1)) AS first_bad_row,
    arg_min(label, file_row_number) FILTER (WHERE label IS NULL OR label NOT IN (0, 1)) AS first_bad_label
FROM read_parquet($path, file_row_number = true)
