-- Criteo DAC train.txt -> raw.parquet. One raw line is read as one string, so blank lines,
-- wrong field counts and bad values are all seen, each with its line number (row_id + 1 + $skip).
-- A bad line aborts the COPY through error(); the caller then looks up the first bad line.
-- Params: $path (file), $skip (header lines), $compression (gzip|none), $out (Parquet path), $meta (JSON for the footer).
COPY (
    SELECT line_no - 1 AS row_id,
           CASE WHEN problem IS NULL THEN CAST(p[1] AS TINYINT) ELSE error(problem) END AS label,
           TRY_CAST(nullif(p[2], '') AS BIGINT) AS I1,
           TRY_CAST(nullif(p[3], '') AS BIGINT) AS I2,
           TRY_CAST(nullif(p[4], '') AS BIGINT) AS I3,
           TRY_CAST(nullif(p[5], '') AS BIGINT) AS I4,
           TRY_CAST(nullif(p[6], '') AS BIGINT) AS I5,
           TRY_CAST(nullif(p[7], '') AS BIGINT) AS I6,
           TRY_CAST(nullif(p[8], '') AS BIGINT) AS I7,
           TRY_CAST(nullif(p[9], '') AS BIGINT) AS I8,
           TRY_CAST(nullif(p[10], '') AS BIGINT) AS I9,
           TRY_CAST(nullif(p[11], '') AS BIGINT) AS I10,
           TRY_CAST(nullif(p[12], '') AS BIGINT) AS I11,
           TRY_CAST(nullif(p[13], '') AS BIGINT) AS I12,
           TRY_CAST(nullif(p[14], '') AS BIGINT) AS I13,
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
        SELECT line_no, p, criteo_problem(line, p) AS problem
        FROM (
            SELECT row_number() OVER () AS line_no, line, string_split(line, chr(9)) AS p
            FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                          quote = '', escape = '', auto_detect = false, skip = $skip,
                          compression = $compression)
        )
    )
) TO $out (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 262144, KV_METADATA {optinter: $meta});
