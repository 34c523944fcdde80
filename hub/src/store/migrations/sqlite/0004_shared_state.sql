-- What every hub process must share: the numbers the hub hands out (so two
-- writers never pick the same one, and a transfer cursor is committed in the
-- order it was taken) and the CA and server key, so any process can enroll.
CREATE TABLE counter (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counter (name, value) SELECT 'transfer_cursor', COALESCE(MAX(cursor), 0) FROM transfer;
INSERT INTO counter (name, value) SELECT 'cert_serial', COALESCE(MAX(cert_serial), 0) FROM site;

CREATE TABLE hub_secret (
    name  TEXT PRIMARY KEY,      -- ca.pem, ca.key, server.pem, server.key
    value TEXT NOT NULL
) WITHOUT ROWID;
