-- iPinYou's derived columns, exactly as make-ipinyou-data's mkyzx.py: useragent -> os_browser,
-- slotprice -> floor-price bucket (os_browser is idempotent on the make-ipinyou-data layout).
CREATE OR REPLACE TEMP VIEW table_rows AS
SELECT * REPLACE (os_browser(l.useragent) AS useragent, slotprice_bucket(l.slotprice) AS slotprice)
FROM table_lines l;
