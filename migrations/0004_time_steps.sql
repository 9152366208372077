-- Samples whose time is earlier than the sample before them: the wall
-- clock was set back. Between two such samples sample times rise with ids,
-- which is what lets readers find a time by binary search over ids
-- (src/store/by_time.rs); each piece is searched on its own.
CREATE TABLE time_steps (
    sample_id INTEGER PRIMARY KEY
);
