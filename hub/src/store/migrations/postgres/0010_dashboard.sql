-- Dashboard sign-in (hub/src/web/); see the SQLite migration of the same
-- number.
ALTER TABLE hq_user DROP CONSTRAINT hq_user_role_check;
ALTER TABLE hq_user ADD CONSTRAINT hq_user_role_check
    CHECK (role IN ('admin', 'planner', 'viewer'));
ALTER TABLE hq_user ADD COLUMN password_hash TEXT;
ALTER TABLE hq_user ADD COLUMN lang TEXT CHECK (lang IN ('en', 'zh-CN'));

CREATE TABLE hq_session (
    id_sha256  TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX hq_session_user ON hq_session (user_name);
