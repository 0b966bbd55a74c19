-- Avazu's derived columns: `hour` YYMMDDHH becomes hour-of-day, calendar weekday (0 = Sunday)
-- and is_weekend (the reczoo/BARS Avazu_x4 preprocessing); `id` is never read (it overflows
-- int64, and the preset does not declare it).
CREATE OR REPLACE TEMP VIEW table_rows AS
SELECT * REPLACE (substr(l.hour, 7, 2) AS hour),
       CAST(dayofweek(strptime(left(l.hour, 6), '%y%m%d')) AS VARCHAR) AS weekday,
       CASE WHEN dayofweek(strptime(left(l.hour, 6), '%y%m%d')) IN (0, 6) THEN '1' ELSE '0' END AS is_weekend
FROM table_lines l;
