-- The hub's directory of sites and their locations, as it last sent it, so
-- `transfer send` can refuse a site or location that does not exist while
-- offline; and the corrections of a transfer (cancel at the sender, close
-- short at the receiver).
CREATE TABLE directory_site (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    shares_costs INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE directory_location (
    site TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (site, id)
) WITHOUT ROWID;

CREATE TABLE directory_state (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    etag       TEXT,
    fetched_at TEXT
);
INSERT INTO directory_state (singleton) VALUES (1);

-- The seq of the transfer-in that took a cancelled transfer back.
ALTER TABLE transfer ADD COLUMN cancel_seq INTEGER;
-- What the receiver closed as never arriving (`transfer close`).
ALTER TABLE incoming_transfer ADD COLUMN short_qty INTEGER NOT NULL DEFAULT 0;

-- What a customer bought and returned, for the return check (`return`).
CREATE INDEX movement_by_customer ON movement (counterparty, sku)
    WHERE kind IN ('sale', 'customer_return');
