-- The sharing policy in force, as rows the inventory can aggregate over in
-- SQL: `share_policy` keeps the whole policy (JSON, read by ingest); these
-- tables hold what the inventory needs of it, rewritten together with it
-- whenever the policy document is materialized. A dealer without a row
-- shares nothing and not its costs (SharePolicy::default).
CREATE TABLE share_scope (
    site  TEXT PRIMARY KEY,
    stock TEXT NOT NULL CHECK (stock IN ('nothing', 'all', 'selected')),
    costs INTEGER NOT NULL CHECK (costs IN (0, 1))      -- costs_and_prices
) WITHOUT ROWID;

-- The categories and SKUs of a 'selected' stock scope.
CREATE TABLE share_scope_item (
    site  TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('category', 'sku')),
    value TEXT NOT NULL,
    PRIMARY KEY (site, kind, value)
) WITHOUT ROWID;

-- Policies already in force, from their JSON (serde of SharePolicy: stock is
-- "nothing", "all" or {"selected": {"categories": [...], "skus": [...]}}).
-- JSON that does not read as a policy shares nothing, as ingest reads it.
INSERT INTO share_scope (site, stock, costs)
SELECT site,
       CASE WHEN NOT json_valid(policy) THEN 'nothing'
            WHEN json_type(policy, '$.stock') = 'text' AND json_extract(policy, '$.stock') = 'all' THEN 'all'
            WHEN json_type(policy, '$.stock.selected') = 'object' THEN 'selected'
            ELSE 'nothing' END,
       CASE WHEN json_valid(policy) AND json_type(policy, '$.costs_and_prices') = 'true' THEN 1 ELSE 0 END
FROM share_policy;
INSERT INTO share_scope_item (site, kind, value)
SELECT p.site, 'category', j.value
FROM share_policy p,
     json_each(CASE WHEN json_valid(p.policy) THEN p.policy ELSE '{}' END, '$.stock.selected.categories') j
WHERE j.type = 'text'
UNION
SELECT p.site, 'sku', j.value
FROM share_policy p,
     json_each(CASE WHEN json_valid(p.policy) THEN p.policy ELSE '{}' END, '$.stock.selected.skus') j
WHERE j.type = 'text';

-- Inventory filtered by SKU, and the SKUs a selective dealer shares, looked
-- up by (sku, site) rather than scanning the balances.
CREATE INDEX balance_by_sku ON balance (sku, site);

-- Open transfers only: the inventory's in-transit part reads these, not
-- every transfer ever sent.
CREATE INDEX transfer_open ON transfer (sku) WHERE qty > received_qty + returned_qty;
