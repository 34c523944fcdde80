-- What a selective dealer shares, summed per (site, location); see the
-- SQLite migration of the same number. Here one statement trigger per
-- event sums its transition table's selected rows per (site, location).
ALTER TABLE balance_total ADD COLUMN shared BIGINT NOT NULL DEFAULT 0;

-- Whether `site`'s stock scope selects `sku` (store/query.rs, SELECTED).
CREATE FUNCTION balance_selected(site_id TEXT, sku_id TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM share_scope p WHERE p.site = site_id AND p.stock = 'selected')
       AND EXISTS (SELECT 1 FROM share_scope_item i WHERE i.site = site_id
                   AND ((i.kind = 'sku' AND i.value = sku_id)
                     OR (i.kind = 'category' AND i.value <> ''
                         AND i.value = (SELECT c.category FROM product c WHERE c.sku = sku_id))))
$$;

UPDATE balance_total t SET shared = d.qty
FROM (SELECT b.site, b.location, SUM(b.qty) AS qty FROM balance b
      WHERE b.site IN (SELECT site FROM share_scope WHERE stock = 'selected')
        AND balance_selected(b.site, b.sku)
      GROUP BY b.site, b.location) d
WHERE t.site = d.site AND t.location = d.location;

CREATE FUNCTION balance_total_shared_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO balance_total AS t (site, location, qty, value, balances, shared)
        SELECT a.site, a.location, 0, 0, 0, SUM(a.qty) FROM added a
        WHERE a.site IN (SELECT site FROM share_scope WHERE stock = 'selected')
          AND balance_selected(a.site, a.sku)
        GROUP BY a.site, a.location
        ON CONFLICT (site, location) DO UPDATE SET shared = t.shared + excluded.shared;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE balance_total AS t SET shared = t.shared + d.qty
        FROM (SELECT site, location, SUM(qty) AS qty
              FROM (SELECT site, location, sku, qty FROM added
                    UNION ALL
                    SELECT site, location, sku, -qty FROM removed) x
              WHERE site IN (SELECT site FROM share_scope WHERE stock = 'selected')
                AND balance_selected(site, sku)
              GROUP BY site, location) d
        WHERE t.site = d.site AND t.location = d.location;
    ELSE
        UPDATE balance_total AS t SET shared = t.shared - d.qty
        FROM (SELECT site, location, SUM(qty) AS qty FROM removed
              WHERE site IN (SELECT site FROM share_scope WHERE stock = 'selected')
                AND balance_selected(site, sku)
              GROUP BY site, location) d
        WHERE t.site = d.site AND t.location = d.location;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER balance_total_shared_insert AFTER INSERT ON balance
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_shared_apply();
CREATE TRIGGER balance_total_shared_update AFTER UPDATE ON balance
REFERENCING OLD TABLE AS removed NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_shared_apply();
CREATE TRIGGER balance_total_shared_delete AFTER DELETE ON balance
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_shared_apply();
