-- What the sender took back of a transfer (sqlite/0003_transfer_returns.sql).
ALTER TABLE transfer ADD COLUMN returned_qty BIGINT NOT NULL DEFAULT 0;
