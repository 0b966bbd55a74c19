-- Source view `table_lines` of raw iPinYou contest logs: the same 16 fields as the
-- make-ipinyou-data layout (read_lines.sql + read_derive_ipinyou.sql), label `click`.
-- $imp and $clk are lists of files (sorted by name); optinter_row counts impressions across the
-- $imp files in that order. An impression is a click when its bidid AND creative appear in a
-- click log: the key make-ipinyou-data's mkdata.py uses (bidid alone would also match a click on
-- another creative shown for the same bid). weekday and hour come from the timestamp as in
-- mkdata.py (weekday 0 = Sunday); empty fields become 'null' as formalizeua.py writes them.
-- Params: $imp, $clk, $compression (gzip|none).
SET VARIABLE optinter_imp = $imp;
SET VARIABLE optinter_clk = $clk;
SET VARIABLE optinter_compression = $compression;
CREATE OR REPLACE TEMP VIEW table_lines AS
WITH imps AS (
    SELECT line_no, p, ipinyou_log_line_problem(line, p) AS problem
    FROM (
        SELECT row_number() OVER () AS line_no, line, string_split(line, chr(9)) AS p
        FROM read_csv(getvariable('optinter_imp'), columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, compression = getvariable('optinter_compression'))
    )
), clicks AS (
    SELECT DISTINCT p[1] AS bidid, p[19] AS creative
    FROM (
        SELECT line, string_split(line, chr(9)) AS p
        FROM read_csv(getvariable('optinter_clk'), columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, compression = getvariable('optinter_compression'))
    )
    WHERE CASE WHEN ipinyou_log_line_problem(line, p) IS NULL THEN true ELSE error(ipinyou_log_line_problem(line, p)) END
)
SELECT i.line_no AS optinter_row,
       i.problem AS optinter_problem,
       CAST(c.bidid IS NOT NULL AS TINYINT) AS click,
       CAST(dayofweek(strptime(left(i.p[2], 8), '%Y%m%d')) AS VARCHAR) AS weekday,
       substr(i.p[2], 9, 2) AS hour,
       nz(i.p[6]) AS IP,
       nz(i.p[7]) AS region,
       nz(i.p[8]) AS city,
       nz(i.p[9]) AS adexchange,
       nz(i.p[10]) AS domain,
       nz(i.p[13]) AS slotid,
       nz(i.p[14]) AS slotwidth,
       nz(i.p[15]) AS slotheight,
       nz(i.p[16]) AS slotvisibility,
       nz(i.p[17]) AS slotformat,
       nz(i.p[19]) AS creative,
       nz(i.p[23]) AS advertiser,
       i.p[5] AS useragent,
       i.p[18] AS slotprice
FROM imps i
LEFT JOIN clicks c ON c.bidid = i.p[1] AND c.creative = i.p[19]
ORDER BY optinter_row;
