-- The limits of processes that came near them (/proc/PID/limits, read only
-- once a process's open files or threads grew past a floor): a snapshot
-- blob like the other tables. NULL where the process table failed that
-- sample, and in every sample written before.
ALTER TABLE samples ADD COLUMN limit_table BLOB;
