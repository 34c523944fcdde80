-- Dashboard sign-in (hub/src/web/). `hq_user` gains the planner role, a
-- password (an argon2id PHC string; NULL for a user of the API token only)
-- and the language the user chose on a page (NULL: the browser's
-- Accept-Language decides). SQLite cannot alter a CHECK: the table is
-- rebuilt with its rows.
CREATE TABLE hq_user_0010 (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'planner', 'viewer')),
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    password_hash TEXT,
    lang          TEXT CHECK (lang IN ('en', 'zh-CN'))
) WITHOUT ROWID;
INSERT INTO hq_user_0010 (name, role, token_sha256, created_at)
    SELECT name, role, token_sha256, created_at FROM hq_user;
DROP TABLE hq_user;
ALTER TABLE hq_user_0010 RENAME TO hq_user;

-- A signed-in browser: the SHA-256 of its cookie's secret (the secret itself
-- is never stored), the CSRF token its forms carry, and when it ends
-- (RFC 3339 UTC text, compared as text).
CREATE TABLE hq_session (
    id_sha256  TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX hq_session_user ON hq_session (user_name);
