-- What planners do on the dashboard; see the SQLite migration of the same
-- number.
ALTER TABLE alert ADD COLUMN acked_by TEXT;
ALTER TABLE alert ADD COLUMN acked_at TEXT;
ALTER TABLE alert ADD COLUMN ack_note TEXT;

CREATE TABLE plan_decision (
    site       TEXT NOT NULL,
    location   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    as_of      TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('ordered', 'dismissed')),
    qty        TEXT,
    note       TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (site, location, sku, as_of)
);
