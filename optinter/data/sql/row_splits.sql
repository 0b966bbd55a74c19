-- Every row's split (0 train, 1 valid, 2 test), in file order; row_id comes along so the
-- caller can check that order. Params: $raw, $seed, $train_end, $valid_end.
SELECT row_id, split_code(row_id, $seed, $train_end, $valid_end) AS split
FROM read_parquet($raw);
