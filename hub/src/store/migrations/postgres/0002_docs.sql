-- Documents many sites edit (Automerge), as on SQLite (sqlite/0002_docs.sql).
CREATE TABLE doc (
    id         TEXT PRIMARY KEY,
    snapshot   BYTEA NOT NULL,
    heads      BYTEA NOT NULL,
    chunks     BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE doc_chunk (
    doc_id TEXT NOT NULL,
    n      BIGINT NOT NULL,
    bytes  BYTEA NOT NULL,
    PRIMARY KEY (doc_id, n)
);

CREATE TABLE site_actor (
    actor    TEXT PRIMARY KEY,
    site     TEXT NOT NULL,
    bound_at TEXT NOT NULL
);
ALTER TABLE site ADD COLUMN actor_open BIGINT NOT NULL DEFAULT 1;

CREATE TABLE doc_refusal (
    hash        TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL,
    site        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE product (
    sku            TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    unit           TEXT NOT NULL,
    decimals       BIGINT NOT NULL,
    gtin           TEXT NOT NULL,
    category       TEXT NOT NULL,
    brand          TEXT NOT NULL,
    lot_tracked    BIGINT NOT NULL,
    list_price     TEXT,
    dealer_price   TEXT,
    lead_time_days BIGINT,
    min_order_qty  TEXT,
    pack_size      TEXT
);
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
    terms_days   BIGINT,
    conflicts    TEXT NOT NULL,
    PRIMARY KEY (site, id)
);

CREATE TABLE share_policy (
    site       TEXT PRIMARY KEY,
    policy     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sku_map (
    site   TEXT NOT NULL,
    code   TEXT NOT NULL,
    hq_sku TEXT NOT NULL,
    PRIMARY KEY (site, code)
);
