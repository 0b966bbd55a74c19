-- The rows of $src in a seeded random order that does not depend on the file's order: by
-- split_hash (macros.sql) of row_id under $order_seed, ties (a 32-bit hash repeats about
-- n^2 / 2^33 times) broken by row_id. DuckDB sorts out of core: beyond memory_limit it spills
-- to temp_directory (about 0.8 x the uncompressed split, measured). Params: $src, $order_seed.
SELECT * FROM read_parquet($src)
ORDER BY split_hash(row_id, $order_seed), row_id;
