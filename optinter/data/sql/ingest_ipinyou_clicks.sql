-- Click lines of raw iPinYou logs that joined an impression on ingest_ipinyou_logs.sql's key
-- (bidid AND creative), so that ingest can log how many did not: their impression is in none
-- of the $imp files (another day or season), and they silently add no positive. Runs after
-- that COPY, which has already refused any malformed line. The hash table is built over the
-- distinct click keys (small), the impressions only probe it.
-- Params: $imp, $clk, $compression. Returns one row: lines, joined.
WITH clicks AS (
    SELECT p[1] AS bidid, p[19] AS creative
    FROM (
        SELECT string_split(line, chr(9)) AS p
        FROM read_csv($clk, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, compression = $compression)
    )
), keys AS (
    SELECT DISTINCT bidid, creative FROM clicks
), hits AS (
    SELECT DISTINCT k.bidid, k.creative
    FROM (
        SELECT string_split(line, chr(9)) AS p
        FROM read_csv($imp, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, compression = $compression)
    ) i
    JOIN keys k ON k.bidid = i.p[1] AND k.creative = i.p[19]
)
SELECT count(*) AS lines, count(h.bidid) AS joined
FROM clicks c
LEFT JOIN hits h ON h.bidid = c.bidid AND h.creative = c.creative;
