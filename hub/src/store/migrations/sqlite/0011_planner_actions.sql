-- What planners do on the dashboard (hub/src/web/).
--
-- An open alert acknowledged: who, when (RFC 3339 UTC text) and why; an
-- alert that clears and is raised again is a new row, unacknowledged.
ALTER TABLE alert ADD COLUMN acked_by TEXT;
ALTER TABLE alert ADD COLUMN acked_at TEXT;
ALTER TABLE alert ADD COLUMN ack_note TEXT;

-- A planner's decision on a reorder suggestion of one line on one plan day
-- (the day the suggestion was computed as of): `ordered` (with the qty
-- ordered, exact decimal text) or `dismissed`. A later decision on the
-- same line and day replaces it; the next day's suggestion is undecided.
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
) WITHOUT ROWID;
