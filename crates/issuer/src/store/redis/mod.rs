//! Redis (feature `redis`): session families, the per-user family index, epochs,
//! revoked token ids and throttle counters, shared by any number of issuer
//! instances. Users and clients come from another store ([`StoreConfig::users_url`]).
//!
//! ```no_run
//! use issuer::Issuer;
//! use issuer::store::{self, StoreConfig};
//! # async fn run(key: token_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
//! let config = StoreConfig::new("redis://cache.internal:6379/0")
//!     .users_url("postgres://issuer@db.internal/auth")
//!     .key_prefix("auth:");
//! let stores = store::open(&config).await?;
//! let issuer = Issuer::builder().signing_key(key).stores(stores).build()?;
//! # Ok(()) }
//! ```
//!
//! - **Refresh in one round trip**: one Lua script (`EVALSHA`) reads the family and
//!   the user's epoch, makes the decision of [`Family::rotate`](crate::Family::rotate)
//!   and writes the hash back, atomically. The conformance suite runs every branch
//!   of it against the Rust decision.
//! - **Keys**: `{prefix}fam:{id}` (a hash of five fields at most, laid out in
//!   `layout.rs` so a refresh reads, writes and answers little; it expires with the
//!   family's absolute lifetime, counted from its creation), `{prefix}user:{id}` (the user's families,
//!   a sorted set by creation), `{prefix}ends` (families by the time they ended, for
//!   purge), `{prefix}epoch:{user}` (never expires), `{prefix}denied` (revoked
//!   token ids by expiry), `{prefix}thr:{key}` and `{prefix}thr-idle` (throttling).
//! - **Epochs**: a bump publishes the user id on `{prefix}epochs`; every instance's
//!   listener invalidates its cache ([`EpochFeed`] states the bound).
//! - **Deploying**: give Redis persistence (AOF) if sessions must survive its
//!   restart, and a `maxmemory-policy` that never evicts keys without a TTL
//!   (`noeviction` or `volatile-*`): an evicted epoch would revive old tokens. One
//!   Redis (or a primary with replicas), not Redis Cluster: scripts touch keys they
//!   compute.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, Script, Value};

use super::config::{Backend, StoreConfig, Stores, redact_url};
use super::epochs::{self, WeakFeed};
use super::{EpochFeed, SessionStore, StoreError, StoreFuture, ThrottleStore};
use crate::family::{DeadFamily, Family, RevokeReason, RotateOutcome, RotateRequest};
use crate::throttle::{LockoutPolicy, RateLimit};

mod layout;

/// Numbers cross into Lua as doubles: keep them where doubles are exact.
const MAX_EXACT: i64 = 1 << 53;

fn exact(value: i64) -> i64 {
    value.clamp(-MAX_EXACT, MAX_EXACT)
}

fn exact_u(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX).min(MAX_EXACT)
}

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local function n(x) return string.format('%.0f', x) end
local FIELDS = {'u', 'h', 'st', 'rat', 'rr'}
local HOT = '__HOT__'
local function fam(key)
  local raw = redis.call('HMGET', key, 'u', 'h', 'rat')
  if not raw[1] then return nil end
  local g, lu, ra, rp, ie, ae, v = string.match(raw[2], HOT)
  if not g then error('corrupt family ' .. key) end
  return {u = raw[1], hot = raw[2], ie = ie, ae = ae, v = v, rat = raw[3]}
end
local function ends(h)
  local e = math.min(tonumber(h.ie), tonumber(h.ae))
  if h.rat then e = math.min(e, tonumber(h.rat)) end
  return n(e)
end
local function keep(key, secs)
  local want = math.min(math.max(secs, 0) + 3600, 315360000)
  local ttl = redis.call('TTL', key)
  if ttl < 0 or ttl < want then redis.call('EXPIRE', key, n(want)) end
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}").replace("__HOT__", layout::HOT_PATTERN))
}

/// The hot path's script carries no more than it uses (the prelude runs at every
/// call).
fn lean_script(body: &str) -> Script {
    Script::new(
        &format!("local function n(x) return string.format('%.0f', x) end\n{body}")
            .replace("__HOT__", layout::HOT_PATTERN),
    )
}

/// KEYS: family, user index, ends. ARGV: id, ttl, created, ends, field/value pairs.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local ttl = redis.call('TTL', KEYS[2])
if ttl < 0 or ttl < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"#,
    )
});

/// The refresh decision: `Family::rotate` (src/family.rs) in Lua. The two must stay
/// equal; the conformance suite runs every branch of both. It answers the user id,
/// `h` as written and `st` (see [`layout`]); nothing on this path calls
/// `string.format`, whose float formatting costs more than the rest of the script:
/// the caller passes the new values as text.
/// KEYS: family, ends. ARGV: prefix, id, presented, now, now + idle ttl, grace, max
/// replays, presented + 1.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    lean_script(
        r#"
local f = redis.call('HMGET', KEYS[1], 'u', 'h', 'st', 'rat', 'rr')
if not f[1] then return {'unknown'} end
if f[4] then return {'revoked', f[5]} end
local g, lu, ra, rp, ie, ae, v = string.match(f[2], '__HOT__')
if not g then return redis.error_reply('corrupt family') end
local now = tonumber(ARGV[4])
local nie, nae = tonumber(ie), tonumber(ae)
if now >= math.min(nie, nae) then return {'expired'} end
local epoch = redis.call('GET', ARGV[1] .. 'epoch:' .. f[1])
if epoch and tonumber(v) < tonumber(epoch) then
  redis.call('HSET', KEYS[1], 'rat', ARGV[4], 'rr', 'version_bumped')
  redis.call('ZADD', KEYS[2], n(math.min(nie, nae, now)), ARGV[2])
  return {'stale'}
end
if ARGV[3] == g then
  local idle = ARGV[5]
  if tonumber(idle) >= nae then idle = ae end
  -- The `ends` index keeps the earlier idle expiry: purge checks the row itself.
  local h = ARGV[8] .. ':' .. ARGV[4] .. ':' .. ARGV[4] .. ':0:' .. idle .. ':' .. ae .. ':' .. v
  redis.call('HSET', KEYS[1], 'h', h)
  return {'rotated', f[1], h, f[3]}
end
if tonumber(ARGV[3]) + 1 == tonumber(g) and now - tonumber(ra) <= tonumber(ARGV[6])
    and tonumber(rp) < tonumber(ARGV[7]) then
  local h = g .. ':' .. lu .. ':' .. ra .. ':' .. n(tonumber(rp) + 1) .. ':' .. ie .. ':' .. ae .. ':' .. v
  redis.call('HSET', KEYS[1], 'h', h)
  return {'replay', f[1], h, f[3]}
end
redis.call('HSET', KEYS[1], 'rat', ARGV[4], 'rr', 'reuse')
redis.call('ZADD', KEYS[2], n(math.min(nie, nae, now)), ARGV[2])
return {'reuse', f[1], f[2], f[3], ARGV[4], 'reuse'}
"#,
    )
});

/// KEYS: user index. ARGV: family key prefix.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. id, unpack(FIELDS))
  if f[1] then
    table.insert(out, id)
    table.insert(out, f)
  end
end
return out
"#,
    )
});

/// KEYS: family, ends. ARGV: id, now, reason.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local h = fam(KEYS[1])
if not h or h.rat then return 0 end
h.rat = ARGV[2]
redis.call('HSET', KEYS[1], 'rat', ARGV[2], 'rr', ARGV[3])
redis.call('ZADD', KEYS[2], ends(h), ARGV[1])
return 1
"#,
    )
});

/// KEYS: user index, ends. ARGV: family key prefix, has keep, keep, now, reason.
static REVOKE_ALL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local count = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not (ARGV[2] == '1' and id == ARGV[3]) then
    local key = ARGV[1] .. id
    local h = fam(key)
    if h and not h.rat then
      h.rat = ARGV[4]
      redis.call('HSET', key, 'rat', ARGV[4], 'rr', ARGV[5])
      redis.call('ZADD', KEYS[2], ends(h), id)
      count = count + 1
    end
  end
end
return count
"#,
    )
});

/// KEYS: epoch, user index, ends. ARGV: family key prefix, has keep, keep, now,
/// channel, payload.
static BUMP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('INCR', KEYS[1])
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local key = ARGV[1] .. id
  local h = fam(key)
  if h and not h.rat then
    if ARGV[2] == '1' and id == ARGV[3] then
      redis.call('HSET', key, 'h', (string.gsub(h.hot, ':[^:]*$', ':' .. n(v), 1)))
    else
      h.rat = ARGV[4]
      redis.call('HSET', key, 'rat', ARGV[4], 'rr', 'version_bumped')
      redis.call('ZADD', KEYS[3], ends(h), id)
    end
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return v
"#,
    )
});

/// KEYS: ends, denied. ARGV: family key prefix, user index prefix, cutoff, batch.
/// A rotation does not move a family in `ends` (its idle expiry only grows), so a
/// candidate whose row ends later is put back at its real end instead of deleted.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local count = 0
local batch = tonumber(ARGV[4])
local budget = 4 * batch
while count < batch and budget > 0 do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, batch - count)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    budget = budget - 1
    local key = ARGV[1] .. id
    local h = fam(key)
    if h and tonumber(ends(h)) >= tonumber(ARGV[3]) then
      redis.call('ZADD', KEYS[1], ends(h), id)
    else
      redis.call('DEL', key)
      if h then redis.call('ZREM', ARGV[2] .. h.u, id) end
      redis.call('ZREM', KEYS[1], id)
      count = count + 1
    end
  end
end
if batch - count > 0 then
  for _, jti in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3], 'LIMIT', 0, batch - count)) do
    redis.call('ZREM', KEYS[2], jti)
    count = count + 1
  end
end
return count
"#,
    )
});

/// `ThrottleEntry::hit` in Lua. KEYS: entry, idle index. ARGV: member, now, limit,
/// window.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local h = redis.call('HMGET', KEYS[1], 'ws', 'n', 'lu')
local ws, count, lu = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
local now, limit, win = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if now >= ws + win or now < ws then ws = now; count = 0 end
count = math.min(count + 1, 4294967295)
redis.call('HSET', KEYS[1], 'ws', n(ws), 'n', n(count), 't', n(now))
redis.call('ZADD', KEYS[2], n(math.max(now, lu)), ARGV[1])
keep(KEYS[1], ws + win - now)
if count > limit then return math.max(ws + win - now, 1) end
return -1
"#,
    )
});

/// `ThrottleEntry::record_failure` in Lua. KEYS: entry, idle index. ARGV: member,
/// now, threshold, base, max, forget after.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local h = redis.call('HMGET', KEYS[1], 'f', 'lf', 'lu')
local f, lf, lu = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
local now, threshold = tonumber(ARGV[2]), tonumber(ARGV[3])
local base, max, forget = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if now - lf > forget then f = 0 end
f = math.min(f + 1, 4294967295)
local lock = -1
if f >= threshold then
  lock = math.min(base * (2 ^ math.min(f - threshold, 32)), max)
  lu = now + lock
end
redis.call('HSET', KEYS[1], 'f', n(f), 'lf', n(now), 'lu', n(lu), 't', n(now))
redis.call('ZADD', KEYS[2], n(math.max(now, lu)), ARGV[1])
keep(KEYS[1], math.max(forget, lu - now))
return lock
"#,
    )
});

/// KEYS: entry, idle index. ARGV: member.
static RESET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"#,
    )
});

/// KEYS: idle index. ARGV: entry key prefix, cutoff, batch.
static PURGE_THROTTLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local count = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])) do
  redis.call('DEL', ARGV[1] .. member)
  redis.call('ZREM', KEYS[1], member)
  count = count + 1
end
return count
"#,
    )
});

/// Sessions and throttle counters in Redis. Cloning is cheap and clones share the
/// connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    feed: EpochFeed,
}

impl RedisStore {
    /// Connects to `config.url` and starts the epoch listener.
    pub async fn open(config: &StoreConfig) -> Result<RedisStore, StoreError> {
        let shown = redact_url(&config.url);
        let client = Client::open(config.url.as_str())
            .map_err(|e| StoreError::Config(format!("bad Redis URL {shown}: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout_value()))
            .set_response_timeout(Some(config.request_timeout_value()))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("could not connect to Redis at {shown}: {e}"))
            })?;
        let prefix = config.prefix().to_owned();
        let channel = format!("{prefix}epochs");
        let instance =
            crate::refresh_token::random_b64(9).unwrap_or_else(|_| "instance".to_owned());
        let heartbeat = format!("{prefix}epochs-hb:{instance}");
        let feed = EpochFeed::new(config.bound());
        tokio::spawn(listen(
            client,
            channel.clone(),
            heartbeat.clone(),
            config.connect_timeout_value(),
            feed.downgrade(),
        ));
        let heartbeat_conn = conn.clone();
        tokio::spawn(epochs::send_heartbeats(feed.downgrade(), move |payload| {
            let (mut conn, heartbeat) = (heartbeat_conn.clone(), heartbeat.clone());
            async move {
                conn.publish::<_, _, i64>(heartbeat, payload)
                    .await
                    .map(drop)
            }
        }));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix,
                channel,
                feed,
            }),
        })
    }

    /// The connection (it reconnects by itself), for an application's own commands.
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// The stores of an issuer: sessions and throttling here, users, clients and
    /// audit events from `users` (the store [`StoreConfig::users_url`] named).
    pub fn into_stores(self, users: Stores) -> Stores {
        let epochs = Some(self.inner.feed.clone());
        let store = Arc::new(self);
        Stores {
            users: users.users,
            clients: users.clients,
            sessions: store.clone(),
            throttle: store,
            audit: users.audit,
            epochs,
            backend: Backend::Redis,
        }
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.inner.prefix)
    }

    fn named(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("epochs", &self.inner.feed)
            .finish()
    }
}

async fn listen(
    client: Client,
    channel: String,
    heartbeat: String,
    connect_timeout: Duration,
    mut weak: WeakFeed,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(silence) = weak.upgrade().map(|f| f.silence_limit()) else {
            return;
        };
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub
                .subscribe(&[channel.as_str(), heartbeat.as_str()])
                .await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            () = weak.stopped() => return,
            result = tokio::time::timeout(connect_timeout, subscribe) => result,
        };
        match subscribed {
            Ok(Ok(pubsub)) => {
                match weak.upgrade() {
                    Some(feed) => feed.connected(),
                    None => return,
                };
                backoff = Duration::from_millis(50);
                let mut messages = pubsub.into_on_message();
                loop {
                    let next = tokio::select! {
                        () = weak.stopped() => return,
                        next = tokio::time::timeout(silence, messages.next()) => next,
                    };
                    let Some(feed) = weak.upgrade() else { return };
                    let Ok(Some(message)) = next else {
                        feed.disconnected();
                        break;
                    };
                    let payload = String::from_utf8_lossy(message.get_payload_bytes());
                    if message.get_channel_name() == heartbeat {
                        feed.heartbeat_received(&payload);
                    } else {
                        feed.invalidate(&payload);
                    }
                }
            }
            other => {
                if let Some(feed) = weak.upgrade() {
                    feed.disconnected();
                }
                if let Ok(Err(error)) = other {
                    tracing::debug!(%error, "epoch listener could not subscribe");
                }
            }
        }
        tokio::select! {
            () = weak.stopped() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

fn unavailable(context: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| StoreError::Unavailable(format!("{context}: {e}"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unexpected data in the store: {what}"))
}

fn bytes(value: Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        _ => Err(corrupt("a field")),
    }
}

fn text(value: Value) -> Result<String, StoreError> {
    String::from_utf8(bytes(value)?).map_err(|_| corrupt("text"))
}

impl SessionStore for RedisStore {
    fn create<'a>(&'a self, f: &'a Family) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let ttl = f
                .absolute_expires
                .saturating_sub(f.created)
                .clamp(1, i64::from(i32::MAX));
            let mut invocation = CREATE.prepare_invoke();
            invocation
                .key(self.key("fam", &f.id))
                .key(self.key("user", &f.user_id))
                .key(self.named("ends"))
                .arg(&f.id)
                .arg(ttl)
                .arg(exact(f.created))
                .arg(exact(f.expires().min(f.revoked.map_or(i64::MAX, |r| r.at))))
                .arg("u")
                .arg(&f.user_id)
                .arg("h")
                .arg(layout::hot(f))
                .arg("st")
                .arg(layout::static_part(f));
            if let Some(r) = f.revoked {
                invocation
                    .arg("rat")
                    .arg(exact(r.at))
                    .arg("rr")
                    .arg(r.reason.as_str());
            }
            let created: i64 = invocation
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("creating a session"))?;
            if created == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Family>> {
        Box::pin(async move {
            let raw: Value = redis::cmd("HMGET")
                .arg(self.key("fam", id))
                .arg(&layout::READ_FIELDS[..])
                .query_async(&mut self.conn())
                .await
                .map_err(unavailable("reading a session"))?;
            let Value::Array(fields) = raw else {
                return Err(corrupt("family"));
            };
            layout::family_from_fields(id, fields)
        })
    }

    fn rotate<'a>(&'a self, request: RotateRequest<'a>) -> StoreFuture<'a, RotateOutcome> {
        Box::pin(async move {
            let reply: Vec<Value> = ROTATE
                .key(self.key("fam", request.family_id))
                .key(self.named("ends"))
                .arg(&self.inner.prefix)
                .arg(request.family_id)
                .arg(exact_u(request.presented))
                .arg(exact(request.now))
                .arg(exact(request.now.saturating_add(request.idle_ttl)))
                .arg(exact(request.grace))
                .arg(request.max_replays)
                .arg(exact_u(request.presented.saturating_add(1)))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("rotating a session"))?;
            let mut reply = reply.into_iter();
            let outcome = bytes(reply.next().ok_or_else(|| corrupt("rotation outcome"))?)?;
            let mut family = || -> Result<Family, StoreError> {
                layout::family_from_fields(request.family_id, reply.by_ref())?
                    .ok_or_else(|| corrupt("rotated family"))
            };
            Ok(match outcome.as_slice() {
                b"unknown" => RotateOutcome::Dead(DeadFamily::Unknown),
                b"expired" => RotateOutcome::Dead(DeadFamily::Expired),
                b"stale" => RotateOutcome::Dead(DeadFamily::Stale),
                b"revoked" => {
                    let reason = text(reply.next().ok_or_else(|| corrupt("reason"))?)?;
                    RotateOutcome::Dead(DeadFamily::Revoked(
                        RevokeReason::parse(&reason).ok_or_else(|| corrupt("reason"))?,
                    ))
                }
                b"rotated" => RotateOutcome::Rotated(family()?),
                b"replay" => RotateOutcome::GraceReplay(family()?),
                b"reuse" => RotateOutcome::Reuse(family()?),
                _ => return Err(corrupt("rotation outcome")),
            })
        })
    }

    fn list_by_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Family>> {
        Box::pin(async move {
            let reply: Vec<Value> = LIST
                .key(self.key("user", user_id))
                .arg(self.named("fam:"))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("listing sessions"))?;
            let mut families = Vec::with_capacity(reply.len() / 2);
            let mut reply = reply.into_iter();
            while let (Some(id), Some(fields)) = (reply.next(), reply.next()) {
                let Value::Array(fields) = fields else {
                    return Err(corrupt("family"));
                };
                if let Some(family) = layout::family_from_fields(&text(id)?, fields)? {
                    families.push(family);
                }
            }
            Ok(families)
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: i64, reason: RevokeReason) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let changed: i64 = REVOKE
                .key(self.key("fam", id))
                .key(self.named("ends"))
                .arg(id)
                .arg(exact(now))
                .arg(reason.as_str())
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("revoking a session"))?;
            Ok(changed == 1)
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
        reason: RevokeReason,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let changed: u64 = REVOKE_ALL
                .key(self.key("user", user_id))
                .key(self.named("ends"))
                .arg(self.named("fam:"))
                .arg(if keep.is_some() { "1" } else { "0" })
                .arg(keep.unwrap_or(""))
                .arg(exact(now))
                .arg(reason.as_str())
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("revoking sessions"))?;
            Ok(changed)
        })
    }

    fn purge<'a>(&'a self, ended_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let purged: usize = PURGE
                .key(self.named("ends"))
                .key(self.named("denied"))
                .arg(self.named("fam:"))
                .arg(self.named("user:"))
                .arg(exact(ended_before))
                .arg(batch.min(1 << 30))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("purging sessions"))?;
            Ok(purged)
        })
    }

    fn epoch<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let version: Option<u64> = self
                .conn()
                .get(self.key("epoch", user_id))
                .await
                .map_err(unavailable("reading a token version"))?;
            Ok(version.unwrap_or(0))
        })
    }

    fn bump_epoch<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let version: u64 = BUMP
                .key(self.key("epoch", user_id))
                .key(self.key("user", user_id))
                .key(self.named("ends"))
                .arg(self.named("fam:"))
                .arg(if keep.is_some() { "1" } else { "0" })
                .arg(keep.unwrap_or(""))
                .arg(exact(now))
                .arg(&self.inner.channel)
                .arg(user_id)
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("bumping a token version"))?;
            self.inner.feed.invalidate(user_id);
            Ok(version)
        })
    }

    fn deny_token<'a>(&'a self, jti: &'a str, expires: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            redis::cmd("ZADD")
                .arg(self.named("denied"))
                .arg("GT")
                .arg(exact(expires))
                .arg(jti)
                .query_async::<i64>(&mut self.conn())
                .await
                .map_err(unavailable("revoking a token"))?;
            Ok(())
        })
    }

    fn is_token_denied<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let expires: Option<f64> = self
                .conn()
                .zscore(self.named("denied"), jti)
                .await
                .map_err(unavailable("checking a revoked token"))?;
            // Times are kept below 2^53, where doubles are exact.
            Ok(expires.is_some_and(|e| (exact(now) as f64) < e))
        })
    }
}

impl ThrottleStore for RedisStore {
    fn hit<'a>(&'a self, key: &'a str, now: i64, limit: RateLimit) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            if limit == RateLimit::UNLIMITED {
                return Ok(None);
            }
            let wait: i64 = HIT
                .key(self.key("thr", key))
                .key(self.named("thr-idle"))
                .arg(key)
                .arg(exact(now))
                .arg(limit.limit)
                .arg(exact_u(limit.window_secs).max(1))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("counting an attempt"))?;
            Ok(u64::try_from(wait).ok())
        })
    }

    fn locked<'a>(&'a self, key: &'a str, now: i64) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let until: Option<i64> = self
                .conn()
                .hget(self.key("thr", key), "lu")
                .await
                .map_err(unavailable("reading a lockout"))?;
            Ok(until
                .filter(|&until| now < until)
                .map(|until| u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1)))
        })
    }

    fn record_failure<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            if policy == LockoutPolicy::NEVER {
                return Ok(None);
            }
            let lock: i64 = FAIL
                .key(self.key("thr", key))
                .key(self.named("thr-idle"))
                .arg(key)
                .arg(exact(now))
                .arg(policy.threshold)
                .arg(exact_u(policy.base_secs))
                .arg(exact_u(policy.max_secs))
                .arg(exact_u(policy.forget_after_secs))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("recording a failure"))?;
            Ok(u64::try_from(lock).ok())
        })
    }

    fn reset<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            RESET
                .key(self.key("thr", key))
                .key(self.named("thr-idle"))
                .arg(key)
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map_err(unavailable("resetting a throttle"))?;
            Ok(())
        })
    }

    fn purge<'a>(&'a self, idle_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let purged: usize = PURGE_THROTTLE
                .key(self.named("thr-idle"))
                .arg(self.named("thr:"))
                .arg(exact(idle_before))
                .arg(batch.min(1 << 30))
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable("purging throttle entries"))?;
            Ok(purged)
        })
    }
}
