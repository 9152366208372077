-- The retention clock: the latest time the recorder trusted (the wall
-- clock held back by any jump the boot clock did not show), with the wall
-- clock, the boot and the boot clock's reading at that moment, so that the
-- next run can tell how much time really passed since, and whether the
-- wall clock jumped meanwhile. Retention prunes by this clock,
-- so a wall clock set weeks ahead never turns into mass deletion.
CREATE TABLE retention_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    trusted_ms INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    boottime_ms INTEGER NOT NULL
);

-- Steps of the wall clock that the boot clock did not show, as the
-- recorder saw them: `time_ms` is the wall time just after the step,
-- `by_ms` the step (negative when the clock was set back). `gaps` and
-- `report` list them; the `clock-jump` event says the same in words.
CREATE TABLE clock_jumps (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    time_ms INTEGER NOT NULL,
    by_ms INTEGER NOT NULL
);
