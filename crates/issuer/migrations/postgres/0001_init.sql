-- The issuer's tables. Names start with `issuer_` so they can live next to an
-- application's own tables; all times are seconds since the Unix epoch.

CREATE TABLE issuer_users (
    id            text PRIMARY KEY,
    login         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    active        boolean NOT NULL,
    scopes        text NOT NULL
);

CREATE TABLE issuer_clients (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('public', 'confidential')),
    transport   text,
    secret_hash text,
    scopes      text
);

CREATE TABLE issuer_families (
    id               text PRIMARY KEY,
    user_id          text NOT NULL,
    client_id        text,
    generation       bigint NOT NULL,
    salt             bytea NOT NULL,
    scopes           text NOT NULL,
    token_version    bigint NOT NULL,
    created          bigint NOT NULL,
    last_used        bigint NOT NULL,
    rotated_at       bigint NOT NULL,
    replays          bigint NOT NULL,
    idle_expires     bigint NOT NULL,
    absolute_expires bigint NOT NULL,
    revoked_at       bigint,
    revoked_reason   text,
    user_agent       text,
    ip               text,
    -- When the family stopped being usable (revocation or expiry): what purge goes by.
    ends_at          bigint GENERATED ALWAYS AS (LEAST(idle_expires, absolute_expires, revoked_at)) STORED
);
CREATE INDEX issuer_families_by_user ON issuer_families (user_id, created, id);
CREATE INDEX issuer_families_by_end ON issuer_families (ends_at);

CREATE TABLE issuer_token_versions (
    user_id text PRIMARY KEY,
    version bigint NOT NULL
);

CREATE TABLE issuer_denied_tokens (
    jti     text PRIMARY KEY,
    expires bigint NOT NULL
);
CREATE INDEX issuer_denied_tokens_by_expiry ON issuer_denied_tokens (expires);

CREATE TABLE issuer_throttle (
    key          text PRIMARY KEY,
    window_start bigint NOT NULL DEFAULT 0,
    count        bigint NOT NULL DEFAULT 0,
    failures     bigint NOT NULL DEFAULT 0,
    last_failure bigint NOT NULL DEFAULT 0,
    locked_until bigint NOT NULL DEFAULT 0,
    touched      bigint NOT NULL DEFAULT 0
);
CREATE INDEX issuer_throttle_by_touch ON issuer_throttle (touched);

CREATE TABLE issuer_audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL,
    at         bigint NOT NULL,
    user_id    text,
    family_id  text,
    client_id  text,
    ip         text,
    user_agent text,
    reason     text
);
CREATE INDEX issuer_audit_events_by_time ON issuer_audit_events (at);
CREATE INDEX issuer_audit_events_by_user ON issuer_audit_events (user_id, at);

-- One refresh in one round trip: locks the family row, makes the decision of
-- `Family::rotate` (crate issuer, src/family.rs) and writes the row back. The two
-- must stay equal; the store conformance suite runs every branch of both.
-- Outcomes: unknown, revoked, expired, stale, rotated, replay, reuse.
CREATE FUNCTION issuer_rotate(
    p_id text,
    p_presented bigint,
    p_now bigint,
    p_idle bigint,
    p_grace bigint,
    p_max_replays bigint
) RETURNS TABLE (outcome text, family issuer_families)
LANGUAGE plpgsql AS $$
DECLARE
    f issuer_families;
    v_epoch bigint;
BEGIN
    SELECT * INTO f FROM issuer_families WHERE issuer_families.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::issuer_families;
        RETURN;
    END IF;
    IF f.revoked_at IS NOT NULL THEN
        RETURN QUERY SELECT 'revoked'::text, f;
        RETURN;
    END IF;
    IF p_now >= LEAST(f.idle_expires, f.absolute_expires) THEN
        RETURN QUERY SELECT 'expired'::text, f;
        RETURN;
    END IF;
    SELECT v.version INTO v_epoch FROM issuer_token_versions v WHERE v.user_id = f.user_id;
    IF f.token_version < COALESCE(v_epoch, 0) THEN
        UPDATE issuer_families SET revoked_at = p_now, revoked_reason = 'version_bumped'
            WHERE issuer_families.id = p_id RETURNING * INTO f;
        RETURN QUERY SELECT 'stale'::text, f;
        RETURN;
    END IF;
    IF p_presented = f.generation THEN
        -- Idle expiry slides (numeric: no overflow); the absolute one never moves.
        UPDATE issuer_families SET
                generation = f.generation + 1,
                last_used = p_now,
                rotated_at = p_now,
                replays = 0,
                idle_expires = LEAST(p_now::numeric + p_idle, f.absolute_expires)::bigint
            WHERE issuer_families.id = p_id RETURNING * INTO f;
        RETURN QUERY SELECT 'rotated'::text, f;
        RETURN;
    END IF;
    IF f.generation - 1 = p_presented
        AND p_now::numeric - f.rotated_at <= p_grace
        AND f.replays < p_max_replays THEN
        UPDATE issuer_families SET replays = f.replays + 1
            WHERE issuer_families.id = p_id RETURNING * INTO f;
        RETURN QUERY SELECT 'replay'::text, f;
        RETURN;
    END IF;
    UPDATE issuer_families SET revoked_at = p_now, revoked_reason = 'reuse'
        WHERE issuer_families.id = p_id RETURNING * INTO f;
    RETURN QUERY SELECT 'reuse'::text, f;
END;
$$;
