-- The sharing policy in force as rows (sqlite/0005_share_scope.sql explains them).
CREATE TABLE share_scope (
    site  TEXT PRIMARY KEY,
    stock TEXT NOT NULL CHECK (stock IN ('nothing', 'all', 'selected')),
    costs BIGINT NOT NULL CHECK (costs IN (0, 1))
);

CREATE TABLE share_scope_item (
    site  TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('category', 'sku')),
    value TEXT NOT NULL,
    PRIMARY KEY (site, kind, value)
);

-- Policies already in force, from their JSON; JSON that does not read as a
-- policy shares nothing, as ingest reads it.
DO $$
DECLARE
    r RECORD;
    j JSONB;
BEGIN
    FOR r IN SELECT site, policy FROM share_policy LOOP
        BEGIN
            j := r.policy::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            j := '{}'::jsonb;
        END;
        IF jsonb_typeof(j) <> 'object' THEN
            j := '{}'::jsonb;
        END IF;
        INSERT INTO share_scope (site, stock, costs) VALUES (
            r.site,
            CASE WHEN j -> 'stock' = '"all"'::jsonb THEN 'all'
                 WHEN jsonb_typeof(j #> '{stock,selected}') = 'object' THEN 'selected'
                 ELSE 'nothing' END,
            CASE WHEN j -> 'costs_and_prices' = 'true'::jsonb THEN 1 ELSE 0 END);
        INSERT INTO share_scope_item (site, kind, value)
        SELECT DISTINCT r.site, x.kind, x.v #>> '{}'
        FROM (SELECT 'category' AS kind, v
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j #> '{stock,selected,categories}') = 'array'
                                             THEN j #> '{stock,selected,categories}' ELSE '[]' END) AS v
              UNION ALL
              SELECT 'sku', v
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j #> '{stock,selected,skus}') = 'array'
                                             THEN j #> '{stock,selected,skus}' ELSE '[]' END) AS v) x
        WHERE jsonb_typeof(x.v) = 'string';
    END LOOP;
END $$;

CREATE INDEX balance_by_sku ON balance (sku, site);
CREATE INDEX transfer_open ON transfer (sku) WHERE qty > received_qty + returned_qty;
