-- Control groups (services, containers) as a snapshot table, and the
-- cgroup of each process, learned when it is first seen: both stored as
-- frames like the process table (src/store/codec.rs). A database written
-- before this version has neither; its samples read back without them.
ALTER TABLE samples ADD COLUMN cgroup_table BLOB;
ALTER TABLE samples ADD COLUMN process_cgroup_table BLOB;
