-- The hub's directory of sites and their locations, as it last sent it, so
-- `transfer send` can refuse a site or location that does not exist while
-- offline; and the corrections of a transfer (cancel at the sender, close
-- short at the receiver).
CREATE TABLE directory_site (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    shares_costs INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE directory_location (
    site TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (site, id)
) WITHOUT ROWID;

CREATE TABLE directory_state (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    etag       TEXT,
    fetched_at TEXT
);
INSERT INTO directory_state (singleton) VALUES (1);

-- The seq of the transfer-in that took a cancelled transfer back.
ALTER TABLE transfer ADD COLUMN cancel_seq INTEGER;
-- What the receiver closed as never arriving (`transfer close`).
ALTER TABLE incoming_transfer ADD COLUMN short_qty INTEGER NOT NULL DEFAULT 0;

-- A count can be cancelled (`count cancel`): its lines stay as they were
-- counted, nothing is posted. SQLite cannot change a CHECK in place, so the
-- table is rebuilt; the foreign key of count_line is checked at commit,
-- when count_session exists again under its name.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE count_session_new (
    id         INTEGER PRIMARY KEY,
    location   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'posted', 'cancelled')),
    started_at TEXT NOT NULL,
    posted_at  TEXT              -- when it was posted or cancelled
);
INSERT INTO count_session_new (id, location, status, started_at, posted_at)
    SELECT id, location, status, started_at, posted_at FROM count_session;
DROP TABLE count_session;
ALTER TABLE count_session_new RENAME TO count_session;
CREATE UNIQUE INDEX count_one_open_per_location ON count_session (location) WHERE status = 'open';
