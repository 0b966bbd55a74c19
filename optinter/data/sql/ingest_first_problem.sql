-- The first bad line of one raw file (only run after a COPY failed): its 1-based data-line
-- number (add the skipped header lines for the physical line) and what is wrong with it.
-- Params: $path, $skip, $compression, $sep (field delimiter), $layout, $ncols.
SELECT line_no, problem
FROM (
    SELECT line_no,
           CASE $layout
               WHEN 'criteo' THEN criteo_problem(line, p)
               WHEN 'avazu' THEN avazu_problem(line, p)
               WHEN 'ipinyou' THEN ipinyou_line_problem(line, p, $ncols)
               WHEN 'ipinyou_logs' THEN ipinyou_log_line_problem(line, p)
           END AS problem
    FROM (
        SELECT row_number() OVER () AS line_no, line, string_split(line, $sep) AS p
        FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, skip = $skip,
                      compression = $compression)
    )
)
WHERE problem IS NOT NULL
ORDER BY line_no
LIMIT 1;
