-- Balances summed per (site, location), kept by triggers in the transaction
-- of every balance write: the inventory grouped by site, location, region or
-- kind reads these rows (a few per site) instead of every balance (one per
-- site, location, SKU and lot). `balances` counts the rows summed; a group
-- exists while it is above zero.
CREATE TABLE balance_total (
    site     TEXT NOT NULL,
    location TEXT NOT NULL,
    qty      INTEGER NOT NULL,
    value    INTEGER NOT NULL,
    balances INTEGER NOT NULL,
    PRIMARY KEY (site, location)
) WITHOUT ROWID;

INSERT INTO balance_total (site, location, qty, value, balances)
SELECT site, location, SUM(qty), SUM(value), COUNT(*) FROM balance GROUP BY site, location;

CREATE TRIGGER balance_total_insert AFTER INSERT ON balance
BEGIN
    INSERT INTO balance_total (site, location, qty, value, balances)
    VALUES (NEW.site, NEW.location, NEW.qty, NEW.value, 1)
    ON CONFLICT (site, location) DO UPDATE SET
        qty = qty + excluded.qty, value = value + excluded.value, balances = balances + 1;
END;

CREATE TRIGGER balance_total_update AFTER UPDATE ON balance
BEGIN
    UPDATE balance_total SET qty = qty - OLD.qty, value = value - OLD.value, balances = balances - 1
    WHERE site = OLD.site AND location = OLD.location;
    INSERT INTO balance_total (site, location, qty, value, balances)
    VALUES (NEW.site, NEW.location, NEW.qty, NEW.value, 1)
    ON CONFLICT (site, location) DO UPDATE SET
        qty = qty + excluded.qty, value = value + excluded.value, balances = balances + 1;
END;

CREATE TRIGGER balance_total_delete AFTER DELETE ON balance
BEGIN
    UPDATE balance_total SET qty = qty - OLD.qty, value = value - OLD.value, balances = balances - 1
    WHERE site = OLD.site AND location = OLD.location;
END;
