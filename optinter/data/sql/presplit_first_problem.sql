-- The first bad line of one pre-split CSV file (only run after its COPY failed): its 1-based
-- data-line number (add the skipped header line for the physical line) and what is wrong.
-- Params: $path, $skip, $compression.
SELECT line_no, problem
FROM (
    SELECT line_no, criteo_csv_problem(line, p) AS problem
    FROM (
        SELECT row_number() OVER () AS line_no, line, string_split(line, ',') AS p
        FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false,
                      quote = '', escape = '', auto_detect = false, skip = $skip,
                      compression = $compression)
    )
)
WHERE problem IS NOT NULL
ORDER BY line_no
LIMIT 1;
