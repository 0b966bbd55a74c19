-- Ids of the frequent crosses: the view cross_candidates(pair, a_id, b_id, cnt) holds, per pair,
-- every (field id, field id) combination seen at least cross_min_count times in train (counted
-- in numpy: see vocab.py). Ids 1.. by count descending, ties by (a_id, b_id) ascending.
SELECT pair, a_id, b_id,
       CAST(row_number() OVER (PARTITION BY pair ORDER BY cnt DESC, a_id, b_id) AS INTEGER) AS id,
       cnt AS count
FROM cross_candidates
ORDER BY pair, id;
