-- Who waits on whom: the wait-for picture of each sample (one row per
-- endpoint), a snapshot blob like the other tables. NULL where socket
-- diagnostics failed that sample, and in every sample written before.
ALTER TABLE samples ADD COLUMN wait_table BLOB;
