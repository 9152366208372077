-- Control groups (services, containers) as a snapshot table, stored as
-- frames like the process table (src/store/codec.rs); each process names
-- its cgroup by the cgroup's id in its own row. A database written before
-- this version has no cgroups; its samples read back without them.
ALTER TABLE samples ADD COLUMN cgroup_table BLOB;
