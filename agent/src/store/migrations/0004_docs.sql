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
