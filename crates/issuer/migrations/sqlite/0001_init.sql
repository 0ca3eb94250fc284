-- The issuer's tables. Names start with `issuer_` so they can live next to an
-- application's own tables; all times are seconds since the Unix epoch.

CREATE TABLE issuer_users (
    id            TEXT PRIMARY KEY NOT NULL,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL,
    scopes        TEXT NOT NULL
);

CREATE TABLE issuer_clients (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    transport   TEXT,
    secret_hash TEXT,
    scopes      TEXT
);

CREATE TABLE issuer_families (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL,
    client_id        TEXT,
    generation       INTEGER NOT NULL,
    salt             BLOB NOT NULL,
    scopes           TEXT NOT NULL,
    token_version    INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    last_used        INTEGER NOT NULL,
    rotated_at       INTEGER NOT NULL,
    replays          INTEGER NOT NULL,
    idle_expires     INTEGER NOT NULL,
    absolute_expires INTEGER NOT NULL,
    revoked_at       INTEGER,
    revoked_reason   TEXT,
    user_agent       TEXT,
    ip               TEXT,
    -- When the family stopped being usable (revocation or expiry): what purge goes by.
    ends_at          INTEGER GENERATED ALWAYS AS
        (min(idle_expires, absolute_expires, coalesce(revoked_at, absolute_expires))) STORED
);
CREATE INDEX issuer_families_by_user ON issuer_families (user_id, created, id);
CREATE INDEX issuer_families_by_end ON issuer_families (ends_at);

CREATE TABLE issuer_token_versions (
    user_id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE issuer_denied_tokens (
    jti     TEXT PRIMARY KEY NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX issuer_denied_tokens_by_expiry ON issuer_denied_tokens (expires);

CREATE TABLE issuer_throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL DEFAULT 0,
    count        INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_failure INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    touched      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX issuer_throttle_by_touch ON issuer_throttle (touched);

CREATE TABLE issuer_audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    user_id    TEXT,
    family_id  TEXT,
    client_id  TEXT,
    ip         TEXT,
    user_agent TEXT,
    reason     TEXT
);
CREATE INDEX issuer_audit_events_by_time ON issuer_audit_events (at);
CREATE INDEX issuer_audit_events_by_user ON issuer_audit_events (user_id, at);
