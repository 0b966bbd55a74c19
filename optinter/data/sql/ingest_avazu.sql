-- Avazu train CSV (header line skipped) -> raw.parquet: `id` dropped unparsed (it overflows
-- int64), `hour` YYMMDDHH becomes hour-of-day, calendar weekday (0 = Sunday) and is_weekend:
-- 24 categorical fields, all kept as strings.
-- Params: $path, $skip, $compression (gzip|none), $out, $meta.
COPY (
    SELECT line_no - 1 AS row_id,
           CASE WHEN problem IS NULL THEN CAST(p[2] AS TINYINT) ELSE error(problem) END AS label,
           substr(p[3], 7, 2) AS hour,
           CAST(dayofweek(strptime(left(p[3], 6), '%y%m%d')) AS VARCHAR) AS weekday,
           CASE WHEN dayofweek(strptime(left(p[3], 6), '%y%m%d')) IN (0, 6) THEN '1' ELSE '0' END AS is_weekend,
           p[4] AS C1,
           p[5] AS banner_pos,
           p[6] AS site_id,
           p[7] AS site_domain,
           p[8] AS site_category,
           p[9] AS app_id,
           p[10] AS app_domain,
           p[11] AS app_category,
           p[12] AS device_id,
           p[13] AS device_ip,
           p[14] AS device_model,
           p[15] AS device_type,
           p[16] AS device_conn_type,
           p[17] AS C14,
           p[18] AS C15,
           p[19] AS C16,
           p[20] AS C17,
           p[21] AS C18,
           p[22] AS C19,
           p[23] AS C20,
           p[24] AS C21
    FROM (
        SELECT line_no, p, avazu_problem(line, p) AS problem
        FROM (
            SELECT row_number() OVER () AS line_no, line, string_split(line, ',') AS p
            FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                          quote = '', escape = '', auto_detect = false, skip = $skip,
                          compression = $compression)
        )
    )
) TO $out (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 262144, KV_METADATA {optinter: $meta});
