-- vocab_fields.sql for continuous fields turned categorical by log_bucket() (log_bucket: true).
-- Params: $raw, $fields, $seed, $train_end, $valid_end, $min_counts (one per field); identifiers: fields.
WITH train AS (
    SELECT log_bucket(COLUMNS(lambda c: list_contains($fields, c)))
    FROM read_parquet($raw)
    WHERE split_code(row_id, $seed, $train_end, $valid_end) = 0
), counts AS (
    -- repeat fields joined by UNION ALL
    SELECT $fields[{pos}] AS field, {ident} AS value, count(*) AS cnt FROM train GROUP BY {ident}
    -- end repeat
)
SELECT field, value, CAST(row_number() OVER (PARTITION BY field ORDER BY cnt DESC, value) AS INTEGER) AS id,
       cnt AS count
FROM counts
WHERE cnt >= $min_counts[list_position($fields, field)]
ORDER BY field, id;
