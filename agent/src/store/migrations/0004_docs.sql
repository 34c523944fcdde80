-- Documents shared with the hub (Automerge): the HQ catalog, this site's
-- customers, and a dealer's sharing policy and SKU map.

-- This site's Automerge actor: random, bound to the site at the hub on its
-- first document sync after enrollment.
ALTER TABLE site ADD COLUMN actor BLOB;
UPDATE site SET actor = randomblob(16);

CREATE TABLE doc (
    id       TEXT PRIMARY KEY,            -- catalog/07, customers/SITE, policy/SITE, skumap/SITE
    snapshot BLOB NOT NULL,               -- Automerge save(); empty for none
    heads    BLOB NOT NULL,               -- this copy's heads, 32 bytes each, sorted
    acked    BLOB NOT NULL,               -- the heads the hub last said it holds
    chunks   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE doc_chunk (
    doc_id TEXT NOT NULL,
    n      INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, n)
) WITHOUT ROWID;

-- 'own' products are this site's (a dealer's own items, never sent to HQ);
-- 'hq' ones come from the catalog.
ALTER TABLE product ADD COLUMN origin TEXT NOT NULL DEFAULT 'own';

CREATE TABLE catalog_item (
    sku            TEXT PRIMARY KEY,
    gtin           TEXT NOT NULL,
    list_price     TEXT,
    dealer_price   TEXT,
    lead_time_days INTEGER,
    min_order_qty  TEXT,
    pack_size      TEXT
) WITHOUT ROWID;

CREATE TABLE customer (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    contact      TEXT NOT NULL,
    phone        TEXT NOT NULL,
    address      TEXT NOT NULL,
    region       TEXT NOT NULL,
    type         TEXT NOT NULL,
    credit_limit TEXT,
    terms_days   INTEGER,
    conflicts    TEXT NOT NULL            -- JSON [[field, [values that lost]]]
) WITHOUT ROWID;

CREATE TABLE sku_map (
    code   TEXT PRIMARY KEY,              -- the dealer's own code
    hq_sku TEXT NOT NULL
) WITHOUT ROWID;

-- What a dealer publishes to HQ under its sharing policy, in a gapless
-- sequence of its own (the hub sees these seqs, never the ledger's, so it
-- learns nothing of what was not shared, not even how much). A branch
-- publishes its ledger as it is and uses none of this.
ALTER TABLE site ADD COLUMN share_key BLOB;          -- the key of customer pseudonyms
UPDATE site SET share_key = randomblob(32);
ALTER TABLE sync_state ADD COLUMN share_upto INTEGER NOT NULL DEFAULT 0;  -- ledger seqs considered

CREATE TABLE share_out (
    seq  INTEGER PRIMARY KEY,
    wire BLOB NOT NULL                              -- the movement as sent (postcard)
);

-- Σ qty published per (location, HQ sku, lot): when it differs from what
-- the ledger holds (sharing began or resumed), a reconciling movement
-- precedes the next one, so HQ's on-hand equals the dealer's.
CREATE TABLE share_key (
    location TEXT NOT NULL,
    sku      TEXT NOT NULL,
    lot      TEXT NOT NULL,
    qty      INTEGER NOT NULL,
    PRIMARY KEY (location, sku, lot)
) WITHOUT ROWID;

-- Sales and returns held for daily totals until their business day ends.
CREATE TABLE share_held (
    local_seq   INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    location    TEXT NOT NULL,
    sku         TEXT NOT NULL,                  -- HQ sku
    lot         TEXT NOT NULL,
    day         TEXT NOT NULL,                  -- YYYY-MM-DD in the movement's offset
    offset_min  INTEGER NOT NULL,
    qty         INTEGER NOT NULL,
    cost_micro  INTEGER NOT NULL                -- qty × unit cost, in millionths
);
