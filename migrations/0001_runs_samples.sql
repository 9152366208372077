-- One row per recorder run. A run without stop_ms ended uncleanly: crash,
-- kill -9, freeze or power cut.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    boot_id TEXT NOT NULL,
    boot_time_ms INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    kernel TEXT NOT NULL,
    version TEXT NOT NULL,
    -- The recorder's own pid, so that findings leave it out (its open
    -- files follow the number of processes it watches).
    pid INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    stop_ms INTEGER,
    stop_reason TEXT
);

-- One row per sample. Scalars are typed columns, NULL where the source could
-- not be read; cumulative kernel counters are raw (rates are derived on
-- reading). The per-entity tables are snapshot frames (see src/store/codec.rs):
-- key_id is the sample holding the key frame that this sample's frames chain
-- from, in the same run. Blobs come last so that reading scalars never
-- touches their overflow pages.
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key_id INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    lateness_ms INTEGER NOT NULL,
    suspended_ms INTEGER NOT NULL,
    collect_us INTEGER NOT NULL,
    load1 REAL, load5 REAL, load15 REAL,
    cpu_user INTEGER, cpu_nice INTEGER, cpu_system INTEGER, cpu_idle INTEGER,
    cpu_iowait INTEGER, cpu_irq INTEGER, cpu_softirq INTEGER, cpu_steal INTEGER,
    ctxt INTEGER, forks INTEGER, procs_running INTEGER, procs_blocked INTEGER, ncpu INTEGER,
    mem_total INTEGER, mem_available INTEGER, mem_free INTEGER, mem_buffers INTEGER,
    mem_cached INTEGER, mem_dirty INTEGER, mem_writeback INTEGER, mem_shmem INTEGER,
    mem_slab INTEGER, swap_total INTEGER, swap_free INTEGER, mem_committed INTEGER,
    major_faults INTEGER, swap_in INTEGER, swap_out INTEGER, oom_kills INTEGER,
    psi_cpu_some_avg10 REAL, psi_cpu_some_total INTEGER, psi_cpu_full_avg10 REAL, psi_cpu_full_total INTEGER,
    psi_memory_some_avg10 REAL, psi_memory_some_total INTEGER, psi_memory_full_avg10 REAL, psi_memory_full_total INTEGER,
    psi_io_some_avg10 REAL, psi_io_some_total INTEGER, psi_io_full_avg10 REAL, psi_io_full_total INTEGER,
    files_allocated INTEGER, files_max INTEGER,
    processes INTEGER, threads INTEGER, pid_max INTEGER, threads_max INTEGER,
    net_rx_bytes INTEGER, net_tx_bytes INTEGER, net_rx_packets INTEGER, net_tx_packets INTEGER,
    net_rx_errors INTEGER, net_tx_errors INTEGER, net_rx_drops INTEGER, net_tx_drops INTEGER,
    tcp_active_opens INTEGER, tcp_passive_opens INTEGER, tcp_attempt_fails INTEGER,
    tcp_estab_resets INTEGER, tcp_out_resets INTEGER, tcp_retrans_segs INTEGER, tcp_curr_estab INTEGER,
    listen_overflows INTEGER, listen_drops INTEGER,
    sockets_used INTEGER, tcp_inuse INTEGER, tcp_orphan INTEGER, tcp_time_wait INTEGER, udp_inuse INTEGER,
    process_table BLOB, socket_table BLOB, filesystem_table BLOB, disk_table BLOB, interface_table BLOB,
    probe_table BLOB, blocked_table BLOB, dir_table BLOB, log_table BLOB
);
-- No index on time_ms: ids follow time, and readers binary-search them
-- (src/store/by_time.rs); an index would cost a page write per commit.
-- Late or suspended ticks are rare: a partial index finds them without a
-- scan and costs nothing on an ordinary commit. A stall threshold is never
-- below 15 s (max(3 × interval, 15 s)), so this holds every candidate.
CREATE INDEX samples_irregular ON samples(id) WHERE lateness_ms >= 15000 OR suspended_ms >= 1000;

-- Things that happened once rather than values sampled: kernel messages
-- ('kernel', with their syslog priority and how often they repeated),
-- crash records of an earlier boot ('pstore'), and what the recorder itself
-- noticed ('samples-dropped', 'disk-full', 'disk-recovered').
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER,
    repeats INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL
);
CREATE INDEX events_by_time ON events(time_ms);
