//! The shared conformance and race suite against every persistent backend, on the
//! real servers of this machine: SQLite files, PostgreSQL (a database per run, a
//! schema per check), Redis (a key prefix per check).

use issuer::conformance;
use issuer::store::StoreConfig;
use issuer::store::postgres::PgStore;
use issuer::store::redis::RedisStore;
use issuer::store::sqlite::SqliteStore;

use crate::support::{PgDb, REDIS, RedisPrefix, TempDir, unique};

async fn sqlite(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&StoreConfig::new(
        dir.sqlite_url(&format!("{}.db", unique("c"))),
    ))
    .await
    .unwrap()
}

async fn postgres(db: &PgDb) -> PgStore {
    PgStore::open(
        &StoreConfig::new(db.url())
            .schema(unique("s"))
            .max_connections(8),
    )
    .await
    .unwrap()
}

async fn redis(prefix: &RedisPrefix) -> RedisStore {
    RedisStore::open(&StoreConfig::new(REDIS).key_prefix(prefix.sub()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_conforms() {
    let dir = TempDir::new();
    conformance::session_store(async || sqlite(&dir).await).await;
    conformance::throttle_store(async || sqlite(&dir).await).await;
    conformance::user_store(async || sqlite(&dir).await).await;
    conformance::client_store(async || sqlite(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_conforms() {
    let open = async || {
        SqliteStore::open(&StoreConfig::new("sqlite::memory:"))
            .await
            .unwrap()
    };
    conformance::session_store(open).await;
    conformance::throttle_store(open).await;
    conformance::user_store(open).await;
    conformance::client_store(open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let db = PgDb::create().await;
    conformance::session_store(async || postgres(&db).await).await;
    conformance::throttle_store(async || postgres(&db).await).await;
    conformance::user_store(async || postgres(&db).await).await;
    conformance::client_store(async || postgres(&db).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_conforms() {
    let prefix = RedisPrefix::new();
    conformance::session_store(async || redis(&prefix).await).await;
    conformance::throttle_store(async || redis(&prefix).await).await;
    // Users and clients live in the SQL store a Redis configuration names.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_keys_expire_and_are_cleaned_up() {
    let prefix = RedisPrefix::new();
    let store = redis(&prefix).await;
    use issuer::SessionStore;
    let family = conformance::sample_family("f", "u", 1_700_000_000);
    store.create(&family).await.unwrap();
    let client = ::redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_connection().unwrap();
    let key = format!("{}fam:f", prefix.prefix.trim_end_matches(':'));
    let keys = prefix.keys();
    let fam_key = keys
        .iter()
        .find(|k| k.ends_with("fam:f"))
        .unwrap_or_else(|| panic!("a family key under {key}: {keys:?}"));
    let ttl: i64 = ::redis::cmd("TTL").arg(fam_key).query(&mut conn).unwrap();
    let lifetime = family.absolute_expires - family.created;
    assert!(
        ttl > lifetime - 60 && ttl <= lifetime,
        "the family key expires with its absolute lifetime ({ttl} s of {lifetime})"
    );
    let epoch_ttl: i64 = ::redis::cmd("TTL")
        .arg(fam_key.replace("fam:f", "user:u"))
        .query(&mut conn)
        .unwrap();
    assert!(epoch_ttl > 0, "the user index expires too");
    store.bump_epoch("u", None, 1_700_000_001).await.unwrap();
    let version_ttl: i64 = ::redis::cmd("TTL")
        .arg(fam_key.replace("fam:f", "epoch:u"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(version_ttl, -1, "epochs never expire");
}
