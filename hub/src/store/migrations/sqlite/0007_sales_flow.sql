-- The sales flow 销售流向, kept in the ingest transaction so no report scans
-- movements (store/sales.rs writes them; both tables only ever grow by sums).
--
-- `sales_day`: sales and customer returns per (site, location, sku, business
-- day, customer). The business day is the movement's local date in its own
-- offset; `week` is the Monday of its ISO week; `customer` is the sale's
-- counterparty as the site shares it ('' when none: a walk-in sale, or a
-- dealer's daily total). Quantities are micro-units, money micro-currency:
-- sold/returned qty (both positive), revenue/refunds (qty × price of the
-- movements with a price), cogs/return_cogs (qty × the moving-average cost
-- of those same movements), and the qty of movements without a price (not
-- recorded, or withheld by a dealer's policy), which are in no money column.
CREATE TABLE sales_day (
    site              TEXT NOT NULL,
    location          TEXT NOT NULL,
    sku               TEXT NOT NULL,
    day               TEXT NOT NULL,
    customer          TEXT NOT NULL,
    week              TEXT NOT NULL,
    sold              INTEGER NOT NULL,
    returned          INTEGER NOT NULL,
    revenue           INTEGER NOT NULL,
    refunds           INTEGER NOT NULL,
    cogs              INTEGER NOT NULL,
    return_cogs       INTEGER NOT NULL,
    unpriced_sold     INTEGER NOT NULL,
    unpriced_returned INTEGER NOT NULL,
    PRIMARY KEY (site, day, location, sku, customer)
) WITHOUT ROWID;
-- Keyed by site and day first: a batch's rows fall on the newest days of
-- its site, a small part of the tree (keyed by location and SKU first, each
-- batch scattered its rows over the whole table, and on a table larger than
-- the page cache ingest ran several times slower). No secondary index, for
-- the same reason: a report with --sku reads a site's days in key order.

-- The same sums per (site, business day), and `sell_in`: the qty received
-- from other sites' transfers (what HQ and branches shipped in). Reports
-- grouped and filtered only by site, region, kind and dates read these
-- rows, a few hundred a year per site.
CREATE TABLE sales_site_day (
    site              TEXT NOT NULL,
    day               TEXT NOT NULL,
    week              TEXT NOT NULL,
    sold              INTEGER NOT NULL,
    returned          INTEGER NOT NULL,
    revenue           INTEGER NOT NULL,
    refunds           INTEGER NOT NULL,
    cogs              INTEGER NOT NULL,
    return_cogs       INTEGER NOT NULL,
    unpriced_sold     INTEGER NOT NULL,
    unpriced_returned INTEGER NOT NULL,
    sell_in           INTEGER NOT NULL,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;

-- Movements held before this version are summed once by the hub itself
-- (exact decimal arithmetic, which SQL here has not): 0 until it has.
INSERT INTO counter (name, value) VALUES ('sales_flow_backfilled', 0);
