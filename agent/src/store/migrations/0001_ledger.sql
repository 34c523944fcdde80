-- The ledger: the site, its locations and products, the immutable movements
-- and the balance caches derived from them.
-- Quantities are INTEGER micro-units (value × 10^6); money is exact decimal TEXT.

CREATE TABLE site (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('hq', 'branch', 'dealer')),
    name       TEXT NOT NULL,
    region     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE location (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    allow_negative INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE product (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    unit        TEXT NOT NULL,
    category    TEXT NOT NULL,
    brand       TEXT NOT NULL,
    decimals    INTEGER NOT NULL,
    lot_tracked INTEGER NOT NULL
) WITHOUT ROWID;

-- seq is the movement's identity at this site: 1, 2, 3… with no gaps,
-- assigned in the transaction that writes the row.
CREATE TABLE movement (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    location     TEXT NOT NULL,
    sku          TEXT NOT NULL,
    lot          TEXT NOT NULL,          -- '' when the product has no lots
    qty          INTEGER NOT NULL,       -- signed change to on hand
    unit_cost    TEXT NOT NULL,
    unit_price   TEXT,
    counterparty TEXT,
    ref          TEXT,
    reason       TEXT,
    transfer_id  TEXT,
    occurred_at  TEXT NOT NULL,          -- business time, RFC 3339 with offset
    recorded_at  TEXT NOT NULL
);

CREATE TRIGGER movement_no_update BEFORE UPDATE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are immutable: record a reversing movement'); END;
CREATE TRIGGER movement_no_delete BEFORE DELETE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are immutable: record a reversing movement'); END;

-- Cache of SUM(movement.qty) per (location, sku, lot).
CREATE TABLE balance (
    location TEXT NOT NULL,
    sku      TEXT NOT NULL,
    lot      TEXT NOT NULL,
    qty      INTEGER NOT NULL,
    PRIMARY KEY (location, sku, lot)
) WITHOUT ROWID;

-- Moving-average cost per (location, sku) over all its lots.
CREATE TABLE item_cost (
    location TEXT NOT NULL,
    sku      TEXT NOT NULL,
    qty      INTEGER NOT NULL,
    avg_cost TEXT NOT NULL,
    PRIMARY KEY (location, sku)
) WITHOUT ROWID;
