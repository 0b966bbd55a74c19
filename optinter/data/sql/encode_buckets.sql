-- log_bucket() values of the fields $fields for rows $lo <= row_id < $hi, in file order.
-- Params: $raw, $fields, $lo, $hi.
SELECT log_bucket(COLUMNS(lambda c: list_contains($fields, c)))
FROM read_parquet($raw)
WHERE row_id >= $lo AND row_id < $hi;
