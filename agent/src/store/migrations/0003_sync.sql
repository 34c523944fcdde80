-- Sync with the hub: where it is, what it holds, and transfers it delivered.

CREATE TABLE sync_state (
    singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
    hub_url          TEXT,
    enrolled_at      TEXT,
    hwm              INTEGER NOT NULL DEFAULT 0,   -- the hub's high-water mark for this site, as it last said
    transfers_cursor INTEGER NOT NULL DEFAULT 0,   -- the last incoming transfer stored
    last_sync_at     TEXT,                          -- the last round the hub answered
    last_attempt_at  TEXT,
    last_error       TEXT
);
INSERT INTO sync_state (singleton) VALUES (1);

-- Transfers other sites sent to a location of this site.
CREATE TABLE incoming_transfer (
    id           TEXT PRIMARY KEY,
    cursor       INTEGER NOT NULL,
    from_site    TEXT NOT NULL,
    from_location TEXT NOT NULL,
    to_location  TEXT NOT NULL,
    sku          TEXT NOT NULL,
    lot          TEXT NOT NULL,
    qty          INTEGER NOT NULL,
    received_qty INTEGER NOT NULL DEFAULT 0,
    unit_cost    TEXT NOT NULL,
    sent_at      TEXT NOT NULL,
    arrived_at   TEXT NOT NULL            -- when the hub delivered it here
) WITHOUT ROWID;
