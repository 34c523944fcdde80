-- Numbers the hub hands out, and the CA and server key (sqlite/0004_shared_state.sql).
CREATE TABLE counter (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counter (name, value) SELECT 'transfer_cursor', COALESCE(MAX(cursor), 0) FROM transfer;
INSERT INTO counter (name, value) SELECT 'cert_serial', COALESCE(MAX(cert_serial), 0) FROM site;

CREATE TABLE hub_secret (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
