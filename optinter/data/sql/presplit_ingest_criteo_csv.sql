-- reczoo/BARS Criteo_x4 CSV (pre-split train/valid/test files) -> one split's raw.parquet part:
-- the header line `Label,I1,...,I13,C1,...,C26` is skipped (readers.resolve_split checked it),
-- fields are comma-separated and unquoted, the integer fields may be written as integer-valued
-- decimals ('5.0', pandas' float output). Same columns and types as ingest_criteo.sql; a bad
-- line aborts the COPY through error() and the caller then finds it (presplit_first_problem).
-- Params: $path, $skip, $compression (gzip|none), $out, $meta.
COPY (
    SELECT line_no - 1 AS row_id,
           CASE WHEN problem IS NULL THEN CAST(p[1] AS TINYINT) ELSE error(problem) END AS label,
           TRY_CAST(nullif(regexp_replace(p[2], '\.0*$', ''), '') AS BIGINT) AS I1,
           TRY_CAST(nullif(regexp_replace(p[3], '\.0*$', ''), '') AS BIGINT) AS I2,
           TRY_CAST(nullif(regexp_replace(p[4], '\.0*$', ''), '') AS BIGINT) AS I3,
           TRY_CAST(nullif(regexp_replace(p[5], '\.0*$', ''), '') AS BIGINT) AS I4,
           TRY_CAST(nullif(regexp_replace(p[6], '\.0*$', ''), '') AS BIGINT) AS I5,
           TRY_CAST(nullif(regexp_replace(p[7], '\.0*$', ''), '') AS BIGINT) AS I6,
           TRY_CAST(nullif(regexp_replace(p[8], '\.0*$', ''), '') AS BIGINT) AS I7,
           TRY_CAST(nullif(regexp_replace(p[9], '\.0*$', ''), '') AS BIGINT) AS I8,
           TRY_CAST(nullif(regexp_replace(p[10], '\.0*$', ''), '') AS BIGINT) AS I9,
           TRY_CAST(nullif(regexp_replace(p[11], '\.0*$', ''), '') AS BIGINT) AS I10,
           TRY_CAST(nullif(regexp_replace(p[12], '\.0*$', ''), '') AS BIGINT) AS I11,
           TRY_CAST(nullif(regexp_replace(p[13], '\.0*$', ''), '') AS BIGINT) AS I12,
           TRY_CAST(nullif(regexp_replace(p[14], '\.0*$', ''), '') AS BIGINT) AS I13,
           p[15] AS C1,
           p[16] AS C2,
           p[17] AS C3,
           p[18] AS C4,
           p[19] AS C5,
           p[20] AS C6,
           p[21] AS C7,
           p[22] AS C8,
           p[23] AS C9,
           p[24] AS C10,
           p[25] AS C11,
           p[26] AS C12,
           p[27] AS C13,
           p[28] AS C14,
           p[29] AS C15,
           p[30] AS C16,
           p[31] AS C17,
           p[32] AS C18,
           p[33] AS C19,
           p[34] AS C20,
           p[35] AS C21,
           p[36] AS C22,
           p[37] AS C23,
           p[38] AS C24,
           p[39] AS C25,
           p[40] AS C26
    FROM (
        SELECT line_no, p, criteo_csv_problem(line, p) AS problem
        FROM (
            SELECT row_number() OVER () AS line_no, line, string_split(line, ',') AS p
            FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                          quote = '', escape = '', auto_detect = false, skip = $skip,
                          compression = $compression)
        )
    )
) TO $out (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 262144, KV_METADATA {optinter: $meta});
