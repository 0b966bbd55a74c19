-- make-ipinyou-data train.log.txt / test.log.txt (27 / 29 fields, header line optional) ->
-- raw.parquet with the 16 fields the paper uses (mkyzx.py's list); user tags are dropped, as the
-- paper does to prevent leakage, and so are ids, URLs and bid/pay prices. useragent -> os_browser
-- and slotprice -> bucket exactly as mkyzx.py does (os_browser is idempotent on this layout).
-- Params: $path, $skip, $compression (gzip|none), $ncols (27 or 29), $out, $meta.
COPY (
    SELECT line_no - 1 AS row_id,
           CASE WHEN problem IS NULL THEN CAST(p[1] AS TINYINT) ELSE error(problem) END AS label,
           p[2] AS weekday,
           p[3] AS hour,
           p[9] AS IP,
           p[10] AS region,
           p[11] AS city,
           p[12] AS adexchange,
           p[13] AS domain,
           p[16] AS slotid,
           p[17] AS slotwidth,
           p[18] AS slotheight,
           p[19] AS slotvisibility,
           p[20] AS slotformat,
           p[22] AS creative,
           p[26] AS advertiser,
           os_browser(p[8]) AS useragent,
           slotprice_bucket(p[21]) AS slotprice
    FROM (
        SELECT line_no, p, ipinyou_line_problem(line, p, $ncols) AS problem
        FROM (
            SELECT row_number() OVER () AS line_no, line, string_split(line, chr(9)) AS p
            FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                          quote = '', escape = '', auto_detect = false, skip = $skip,
                          compression = $compression)
        )
    )
) TO $out (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 262144, KV_METADATA {optinter: $meta});
