-- Pre-split sources (split: {from: files}): the split of a row is the file it came from. Ingest
-- stacks the files as train, valid, test (row_id runs on across them), so the split is a row_id
-- range; this replaces macros.sql's hashed split_code on the connection, and every SQL file
-- that asks split_code() then gets the files' split. $train_end / $valid_end are passed as the
-- row counts train and train + valid (vocab.Split.params()); the seed is not used.
CREATE OR REPLACE TEMP MACRO split_code(row_id, seed, train_end, valid_end) AS
    (CASE WHEN row_id < train_end THEN 0 WHEN row_id < valid_end THEN 1 ELSE 2 END)::UTINYINT;
