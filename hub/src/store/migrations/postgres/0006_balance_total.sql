-- Balances summed per (site, location), kept by triggers in the transaction
-- of every balance write (sqlite/0006_balance_total.sql explains them). Here
-- the triggers run once per statement over its transition tables, so an
-- upsert of many balances updates each (site, location) total once.
CREATE TABLE balance_total (
    site     TEXT NOT NULL,
    location TEXT NOT NULL,
    qty      BIGINT NOT NULL,
    value    BIGINT NOT NULL,
    balances BIGINT NOT NULL,
    PRIMARY KEY (site, location)
);

INSERT INTO balance_total (site, location, qty, value, balances)
SELECT site, location, SUM(qty), SUM(value), COUNT(*) FROM balance GROUP BY site, location;

-- Adds the rows of `added` and takes away those of `removed` (either may be
-- empty), per (site, location).
CREATE FUNCTION balance_total_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO balance_total AS t (site, location, qty, value, balances)
        SELECT site, location, SUM(qty), SUM(value), COUNT(*) FROM added GROUP BY site, location
        ON CONFLICT (site, location) DO UPDATE SET
            qty = t.qty + excluded.qty, value = t.value + excluded.value,
            balances = t.balances + excluded.balances;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO balance_total AS t (site, location, qty, value, balances)
        SELECT site, location, SUM(qty), SUM(value), SUM(n)
        FROM (SELECT site, location, qty, value, 1 AS n FROM added
              UNION ALL
              SELECT site, location, -qty, -value, -1 FROM removed) d
        GROUP BY site, location
        ON CONFLICT (site, location) DO UPDATE SET
            qty = t.qty + excluded.qty, value = t.value + excluded.value,
            balances = t.balances + excluded.balances;
    ELSE
        UPDATE balance_total AS t SET qty = t.qty - d.qty, value = t.value - d.value,
                                      balances = t.balances - d.n
        FROM (SELECT site, location, SUM(qty) AS qty, SUM(value) AS value, COUNT(*) AS n
              FROM removed GROUP BY site, location) d
        WHERE t.site = d.site AND t.location = d.location;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER balance_total_insert AFTER INSERT ON balance
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_apply();
CREATE TRIGGER balance_total_update AFTER UPDATE ON balance
REFERENCING OLD TABLE AS removed NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_apply();
CREATE TRIGGER balance_total_delete AFTER DELETE ON balance
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION balance_total_apply();
