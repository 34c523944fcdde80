-- The hub's store: enrolled sites and their certificates, enrollment tokens,
-- HQ users, every site's movements, quarantine, transfers, and the balance
-- caches derived from the movements.
-- Quantities are INTEGER micro-units (value × 10^6); money is exact decimal TEXT.

CREATE TABLE site (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('hq', 'branch', 'dealer')),
    name               TEXT NOT NULL,
    region             TEXT NOT NULL,
    cert_serial        INTEGER,          -- the one client certificate accepted now
    enrolled_at        TEXT,
    revoked_at         TEXT,
    hwm                INTEGER NOT NULL DEFAULT 0,   -- highest seq held (applied or quarantined)
    agent_last_seq     INTEGER NOT NULL DEFAULT 0,   -- the agent's own last seq, as it reported
    last_sync_at       TEXT,                          -- hub time of the last successful sync
    newest_business_at TEXT,                          -- newest occurred_at received
    clock_skew_ms      INTEGER                        -- agent clock minus hub clock at last sync
) WITHOUT ROWID;

CREATE TABLE site_location (
    site TEXT NOT NULL,
    id   TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (site, id)
) WITHOUT ROWID;

CREATE TABLE enroll_token (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    site          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    region        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT
) WITHOUT ROWID;

CREATE TABLE hq_user (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE movement (
    site         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    location     TEXT NOT NULL,
    sku          TEXT NOT NULL,
    lot          TEXT NOT NULL,
    qty          INTEGER NOT NULL,
    unit_cost    TEXT NOT NULL,
    unit_price   TEXT,
    counterparty TEXT,
    ref          TEXT,
    reason       TEXT,
    transfer_id  TEXT,
    occurred_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    digest       BLOB NOT NULL,          -- SHA-256 of the record as received
    PRIMARY KEY (site, seq)
) WITHOUT ROWID;

CREATE TRIGGER movement_no_update BEFORE UPDATE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are immutable'); END;
CREATE TRIGGER movement_no_delete BEFORE DELETE ON movement
BEGIN SELECT RAISE(ABORT, 'movements are immutable'); END;

-- Records not applied: malformed, unauthorized, or a second version of a
-- (site, seq) already held (a conflict, which is an alarm).
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    site        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('refused', 'conflict')),
    reason      TEXT NOT NULL,
    record      TEXT NOT NULL,           -- the record as received, JSON
    digest      BLOB NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX quarantine_by_site_seq ON quarantine (site, seq);

-- Cache of the movements per (site, location, sku, lot): on hand, and its
-- value as Σ qty × unit cost (exact under moving-average costing, since each
-- outgoing movement carries the average cost it left at), in millionths.
CREATE TABLE balance (
    site     TEXT NOT NULL,
    location TEXT NOT NULL,
    sku      TEXT NOT NULL,
    lot      TEXT NOT NULL,
    qty      INTEGER NOT NULL,
    value    INTEGER NOT NULL,
    PRIMARY KEY (site, location, sku, lot)
) WITHOUT ROWID;

-- Transfers between sites, from the sender's transfer_out; `cursor` orders
-- delivery to the receiver.
CREATE TABLE transfer (
    id            TEXT PRIMARY KEY,
    cursor        INTEGER NOT NULL UNIQUE,
    from_site     TEXT NOT NULL,
    from_location TEXT NOT NULL,
    to_site       TEXT NOT NULL,
    to_location   TEXT NOT NULL,
    sku           TEXT NOT NULL,
    lot           TEXT NOT NULL,
    qty           INTEGER NOT NULL,
    received_qty  INTEGER NOT NULL DEFAULT 0,
    unit_cost     TEXT NOT NULL,
    sent_at       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX transfer_to_site ON transfer (to_site, cursor);
