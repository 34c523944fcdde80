-- Transfers sent from this site, and stocktakes.

CREATE TABLE transfer (
    id            TEXT PRIMARY KEY,
    from_location TEXT NOT NULL,
    to_site       TEXT NOT NULL,
    to_location   TEXT NOT NULL,
    sku           TEXT NOT NULL,
    lot           TEXT NOT NULL,
    qty           INTEGER NOT NULL,
    unit_cost     TEXT NOT NULL,
    out_seq       INTEGER NOT NULL,
    in_seq        INTEGER,               -- set when received at this same site
    received_qty  INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('sent', 'received')),
    sent_at       TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE count_session (
    id         INTEGER PRIMARY KEY,
    location   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'posted')),
    started_at TEXT NOT NULL,
    posted_at  TEXT
);
CREATE UNIQUE INDEX count_one_open_per_location ON count_session (location) WHERE status = 'open';

-- book is the on-hand quantity at the moment the line was counted.
CREATE TABLE count_line (
    count_id   INTEGER NOT NULL REFERENCES count_session (id),
    sku        TEXT NOT NULL,
    lot        TEXT NOT NULL,
    counted    INTEGER NOT NULL,
    book       INTEGER NOT NULL,
    counted_at TEXT NOT NULL,
    PRIMARY KEY (count_id, sku, lot)
) WITHOUT ROWID;
