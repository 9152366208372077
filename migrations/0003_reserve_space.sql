-- The disk reserve is free pages inside the database file: rows of zeros
-- are committed here (so the pages are written and own their disk blocks),
-- then deleted, and SQLite takes free pages before it grows the file. A
-- checkpoint cuts the file to its page count, free pages included, so the
-- reserve survives it. Empty but for the moment between the two commits.
CREATE TABLE reserve_space (
    id INTEGER PRIMARY KEY,
    space BLOB NOT NULL
);
