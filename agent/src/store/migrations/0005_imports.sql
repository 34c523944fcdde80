-- Each imported file's content hash, committed in the transaction that wrote
-- its rows, so the same file is not imported twice by mistake.
CREATE TABLE import_log (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,               -- movements | count
    content_hash TEXT NOT NULL,               -- SHA-256 of the content (after gunzip), hex
    file         TEXT NOT NULL,               -- the path as given
    rows         INTEGER NOT NULL,            -- rows written
    imported_at  TEXT NOT NULL,               -- RFC 3339
    again        INTEGER NOT NULL DEFAULT 0   -- 1: imported with --again despite an earlier import
);
CREATE INDEX import_log_hash ON import_log (kind, content_hash);
