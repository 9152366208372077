-- Runs recorded from this version store each INTEGER scalar of a sample
-- that is not a key frame as its difference from the key frame's own value
-- (wrapping, so exact both ways): a constant such as mem_total then takes
-- no bytes and a counter a few, which keeps two samples to a page. REAL
-- columns are stored as they are. 1 for such runs; NULL for the runs
-- written before, whose values are all as read.
ALTER TABLE runs ADD COLUMN scalars_from_key INTEGER;
