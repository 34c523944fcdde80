-- What a selective dealer shares, summed per (site, location): `shared` is
-- the qty of the balances whose SKU its stock scope selects (`SELECTED` in
-- store/query.rs: its SKUs and its categories' products), 0 for every other
-- site. The inventory grouped by site, location, region or kind reads it
-- instead of probing each selected SKU's balance. The triggers keep it in
-- the transaction of every balance write, and only for a site whose scope
-- is `selected` (any other site's write pays one lookup of share_scope);
-- `write_share_scope` and the catalog's product rebuild recompute it
-- (store/docs.rs), since they change what is selected.
ALTER TABLE balance_total ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;

UPDATE balance_total SET shared = COALESCE((
    SELECT SUM(b.qty) FROM balance b
    WHERE b.site = balance_total.site AND b.location = balance_total.location
      AND EXISTS (SELECT 1 FROM share_scope p WHERE p.site = b.site AND p.stock = 'selected')
      AND EXISTS (SELECT 1 FROM share_scope_item i WHERE i.site = b.site
                  AND ((i.kind = 'sku' AND i.value = b.sku)
                    OR (i.kind = 'category' AND i.value <> ''
                        AND i.value = (SELECT c.category FROM product c WHERE c.sku = b.sku))))), 0);

CREATE TRIGGER balance_total_shared_insert AFTER INSERT ON balance
WHEN EXISTS (SELECT 1 FROM share_scope WHERE site = NEW.site AND stock = 'selected')
BEGIN
    INSERT INTO balance_total (site, location, qty, value, balances, shared)
    SELECT NEW.site, NEW.location, 0, 0, 0, NEW.qty
    WHERE EXISTS (SELECT 1 FROM share_scope_item i WHERE i.site = NEW.site
                  AND ((i.kind = 'sku' AND i.value = NEW.sku)
                    OR (i.kind = 'category' AND i.value <> ''
                        AND i.value = (SELECT c.category FROM product c WHERE c.sku = NEW.sku))))
    ON CONFLICT (site, location) DO UPDATE SET shared = shared + excluded.shared;
END;

CREATE TRIGGER balance_total_shared_update AFTER UPDATE ON balance
WHEN EXISTS (SELECT 1 FROM share_scope WHERE site = NEW.site AND stock = 'selected')
BEGIN
    UPDATE balance_total SET shared = shared + NEW.qty - OLD.qty
    WHERE site = NEW.site AND location = NEW.location
      AND EXISTS (SELECT 1 FROM share_scope_item i WHERE i.site = NEW.site
                  AND ((i.kind = 'sku' AND i.value = NEW.sku)
                    OR (i.kind = 'category' AND i.value <> ''
                        AND i.value = (SELECT c.category FROM product c WHERE c.sku = NEW.sku))));
END;

CREATE TRIGGER balance_total_shared_delete AFTER DELETE ON balance
WHEN EXISTS (SELECT 1 FROM share_scope WHERE site = OLD.site AND stock = 'selected')
BEGIN
    UPDATE balance_total SET shared = shared - OLD.qty
    WHERE site = OLD.site AND location = OLD.location
      AND EXISTS (SELECT 1 FROM share_scope_item i WHERE i.site = OLD.site
                  AND ((i.kind = 'sku' AND i.value = OLD.sku)
                    OR (i.kind = 'category' AND i.value <> ''
                        AND i.value = (SELECT c.category FROM product c WHERE c.sku = OLD.sku))));
END;
