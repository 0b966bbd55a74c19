-- Vocabulary of the categorical fields $fields from the train split: every value seen at least
-- $min_count times gets an id 1.., by train count descending, ties by value ascending; id 0
-- (OOV) is left for the rest. One GROUP BY per field, UNION ALL-ed (twice as fast as UNPIVOT).
-- Params: $raw, $fields, $seed, $train_end, $valid_end, $min_counts (one per field); identifiers: fields.
WITH train AS (
    SELECT COLUMNS(lambda c: list_contains($fields, c))
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
