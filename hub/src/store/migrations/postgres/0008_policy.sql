-- The stock policy per (site, location, sku) as last computed
-- (`jxc-hub plan policy --save`, and `serve` once a day): what the alerts
-- compare a line's stock position with after each ingest, without
-- forecasting on the write path. Quantities are decimal text.
CREATE TABLE policy_line (
    site           TEXT NOT NULL,
    location       TEXT NOT NULL,
    sku            TEXT NOT NULL,
    as_of          TEXT NOT NULL,
    abc            TEXT NOT NULL,
    xyz            TEXT NOT NULL,
    method         TEXT NOT NULL,
    no_history     INTEGER NOT NULL,
    daily_demand   TEXT NOT NULL,
    demand_sd      TEXT NOT NULL,
    lead_time_days INTEGER NOT NULL,
    review_days    INTEGER NOT NULL,
    service_level  TEXT NOT NULL,
    safety_stock   TEXT NOT NULL,
    reorder_point  TEXT NOT NULL,
    order_up_to    TEXT NOT NULL,
    eoq            TEXT,
    computed_at    TEXT NOT NULL,
    PRIMARY KEY (site, location, sku)
);
