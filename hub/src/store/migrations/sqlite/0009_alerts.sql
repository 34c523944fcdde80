-- Stock alerts 库存预警 (store/alert.rs writes them; alert/ decides them).
--
-- `alert_rule`: rules added with `jxc-hub alert rule add` (rules from
-- hub.toml are not stored). `kind` is the condition; `max_days` (exact
-- decimal text) and `hours` are its parameter where it has one; the scope
-- columns are NULL when the rule covers every site, region, site kind,
-- category or SKU; `webhook` and `email` are the channels (0/1).
CREATE TABLE alert_rule (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('below-reorder-point', 'stock-out',
                   'over-days-of-supply', 'stale', 'quarantine-grew')),
    max_days   TEXT,
    hours      INTEGER,
    site       TEXT,
    region     TEXT,
    site_kind  TEXT,
    category   TEXT,
    sku        TEXT,
    webhook    INTEGER NOT NULL CHECK (webhook IN (0, 1)),
    email      INTEGER NOT NULL CHECK (email IN (0, 1)),
    created_at TEXT NOT NULL
) WITHOUT ROWID;

-- One row per condition of a rule at one line (site, location, sku; the
-- location and SKU are '' for a site's conditions: stale, quarantine),
-- from when it was raised until it cleared. `figures` are the line's
-- figures when it was raised, `cleared_figures` when it cleared (JSON of
-- decimal text), `detail` what the condition was (JSON).
CREATE TABLE alert (
    id              INTEGER PRIMARY KEY,
    rule            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    site            TEXT NOT NULL,
    location        TEXT NOT NULL,
    sku             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'cleared')),
    raised_at       TEXT NOT NULL,
    cleared_at      TEXT,
    figures         TEXT NOT NULL,
    cleared_figures TEXT,
    detail          TEXT NOT NULL
);
-- At most one open alert per rule and line; evaluation looks up a batch's
-- lines by (site, location, sku) through it.
CREATE UNIQUE INDEX alert_open ON alert (site, location, sku, rule) WHERE state = 'open';
CREATE INDEX alert_by_time ON alert (raised_at);

-- Messages to deliver, written in the transaction of the alert change they
-- announce, so a restart loses none. A worker claims due rows for
-- `claimed_until` (a lease: a worker that died lets them go), delivers, and
-- marks them delivered or sets the next attempt (exponential backoff).
CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    alert           INTEGER NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('raised', 'cleared')),
    channel         TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_until   TEXT,
    delivered_at    TEXT
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX alert_outbox_by_alert ON alert_outbox (alert);

-- Per site, the highest seq whose lines have been evaluated: a batch that
-- committed but whose evaluation never ran (the hub stopped in between) is
-- found by the next batch of that site, which evaluates its lines too.
CREATE TABLE alert_cursor (
    site TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
