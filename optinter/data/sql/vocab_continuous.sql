-- Train-split min, max and non-missing count of the continuous fields $fields: one row holding
-- all mins, then all maxes, then all counts, each in the table's column order.
-- Params: $raw, $fields, $seed, $train_end, $valid_end.
SELECT min(COLUMNS(lambda c: list_contains($fields, c))),
       max(COLUMNS(lambda c: list_contains($fields, c))),
       count(COLUMNS(lambda c: list_contains($fields, c)))
FROM read_parquet($raw)
WHERE split_code(row_id, $seed, $train_end, $valid_end) = 0;
