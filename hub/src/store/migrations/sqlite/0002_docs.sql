-- Documents many sites edit (Automerge): stored as a snapshot plus the
-- incremental chunks saved since, folded into the snapshot now and then.
CREATE TABLE doc (
    id         TEXT PRIMARY KEY,          -- catalog/07, customers/SITE, policy/SITE, skumap/SITE
    snapshot   BLOB NOT NULL,
    heads      BLOB NOT NULL,             -- 32-byte change hashes, sorted
    chunks     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE doc_chunk (
    doc_id TEXT NOT NULL,
    n      INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, n)
) WITHOUT ROWID;

-- Automerge actors and the site each writes for. A site's first actor is
-- bound on its first document sync after it enrolled (actor_open).
CREATE TABLE site_actor (
    actor    TEXT PRIMARY KEY,            -- hex
    site     TEXT NOT NULL,
    bound_at TEXT NOT NULL
) WITHOUT ROWID;
ALTER TABLE site ADD COLUMN actor_open INTEGER NOT NULL DEFAULT 1;

-- Changes refused at the hub, once per change (the agent may offer one again).
CREATE TABLE doc_refusal (
    hash        TEXT PRIMARY KEY,         -- hex change hash
    doc_id      TEXT NOT NULL,
    site        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at TEXT NOT NULL
) WITHOUT ROWID;

-- The documents as tables, rebuilt from them after every applied change.
CREATE TABLE product (
    sku            TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    unit           TEXT NOT NULL,
    decimals       INTEGER NOT NULL,
    gtin           TEXT NOT NULL,
    category       TEXT NOT NULL,
    brand          TEXT NOT NULL,
    lot_tracked    INTEGER NOT NULL,
    list_price     TEXT,
    dealer_price   TEXT,
    lead_time_days INTEGER,
    min_order_qty  TEXT,
    pack_size      TEXT
) WITHOUT ROWID;
CREATE INDEX product_by_category ON product (category);

CREATE TABLE customer (
    site         TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    contact      TEXT NOT NULL,
    phone        TEXT NOT NULL,
    address      TEXT NOT NULL,
    region       TEXT NOT NULL,
    type         TEXT NOT NULL,
    credit_limit TEXT,
    terms_days   INTEGER,
    conflicts    TEXT NOT NULL,           -- JSON [[field, [other values]]]
    PRIMARY KEY (site, id)
) WITHOUT ROWID;

CREATE TABLE share_policy (
    site       TEXT PRIMARY KEY,
    policy     TEXT NOT NULL,             -- JSON of the policy in force
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE sku_map (
    site   TEXT NOT NULL,
    code   TEXT NOT NULL,
    hq_sku TEXT NOT NULL,
    PRIMARY KEY (site, code)
) WITHOUT ROWID;
