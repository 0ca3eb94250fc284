//! Epoch propagation between issuer instances sharing one PostgreSQL or one Redis:
//! a bump on instance A reaches instance B's epoch source within the stated bound,
//! also while B's notification channel is being killed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use issuer::store::{self, EpochFeed, StoreConfig, Stores};
use issuer::{Issuer, PasswordPolicy};
use sqlx::Connection;
use token_core::{Algorithm, EpochSource, SigningKey};

use crate::support::{PgDb, PrivateRedis, REDIS, RedisPrefix, TempDir};

/// The bound the tests configure (and the default).
const BOUND: Duration = Duration::from_secs(1);

fn issuer(stores: Stores) -> Issuer {
    Issuer::builder()
        .signing_key(
            SigningKey::generate(Algorithm::EdDSA)
                .unwrap()
                .into_signing_key(),
        )
        .password_policy(PasswordPolicy::INSECURE_FAST)
        .hash_workers(1)
        .stores(stores)
        .build()
        .unwrap()
}

async fn wait_listening(feeds: &[EpochFeed]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !feeds.iter().all(EpochFeed::is_listening) {
        assert!(Instant::now() < deadline, "listeners subscribe");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bumps `user` on `a` and polls `b`'s epoch source until it shows the new version.
/// Fails if any lookup that started more than the bound after the bump returned
/// still served the old version. Returns how long it took.
async fn bump_and_observe(a: &Issuer, b: &Arc<dyn EpochSource>, user: &str) -> Duration {
    let before = b.current_version(user).await.unwrap();
    let version = a.bump_token_version(user).await.unwrap();
    assert_eq!(version, before + 1);
    let bumped = Instant::now();
    loop {
        let started = Instant::now();
        let seen = b.current_version(user).await.unwrap();
        if seen == version {
            return bumped.elapsed();
        }
        assert!(
            started.duration_since(bumped) <= BOUND,
            "a lookup starting {:?} after the bump still served version {seen}",
            started.duration_since(bumped)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn two_instances(config: &StoreConfig) -> (Issuer, Issuer, Vec<EpochFeed>) {
    let a = store::open(config).await.unwrap();
    let b = store::open(config).await.unwrap();
    let feeds = vec![a.epochs.clone().unwrap(), b.epochs.clone().unwrap()];
    (issuer(a), issuer(b), feeds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_see_each_others_bumps() {
    let db = PgDb::create().await;
    let config = StoreConfig::new(db.url()).epoch_bound(BOUND);
    let (a, b, feeds) = two_instances(&config).await;
    wait_listening(&feeds).await;
    let user = a
        .add_user("alice", "pw", "a".parse().unwrap())
        .await
        .unwrap()
        .id;
    let source_b = b.epoch_source();
    let source_a = a.epoch_source();

    // Channel up: a bump is seen in about the time its notification takes.
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        worst = worst.max(bump_and_observe(&a, &source_b, &user).await);
        worst = worst.max(bump_and_observe(&b, &source_a, &user).await);
    }
    assert!(worst < BOUND, "seen within the bound ({worst:?})");
    println!("postgres, channel up: slowest propagation {worst:?}");

    // Channel killed right before each bump: B still never serves a stale version
    // past the bound, and its listener comes back by itself.
    let mut admin = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    for _ in 0..3 {
        wait_listening(&feeds).await;
        // Warm B's cache with the current version (an entry the old session trusts).
        source_b.current_version(&user).await.unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'issuer-epochs'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(killed.len(), 2, "both listeners were found and killed");
        let took = bump_and_observe(&a, &source_b, &user).await;
        println!("postgres, listeners just killed: propagation {took:?}");
        assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");
    }
    wait_listening(&feeds).await;
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_instances_see_each_others_bumps() {
    let prefix = RedisPrefix::new();
    let users = TempDir::new();
    let config = StoreConfig::new(REDIS)
        .users_url(users.sqlite_url("users.db"))
        .key_prefix(prefix.sub())
        .epoch_bound(BOUND);
    let (a, b, feeds) = two_instances(&config).await;
    wait_listening(&feeds).await;
    let source_b = b.epoch_source();
    let source_a = a.epoch_source();
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        worst = worst.max(bump_and_observe(&a, &source_b, "u1").await);
        worst = worst.max(bump_and_observe(&b, &source_a, "u1").await);
    }
    assert!(worst < BOUND, "seen within the bound ({worst:?})");
    println!("redis, channel up: slowest propagation {worst:?}");
}

/// On a private Redis, so killing every pub/sub client touches only this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_listener_killed_never_serves_stale_past_the_bound() {
    let server = PrivateRedis::start();
    let users = TempDir::new();
    let config = StoreConfig::new(server.url())
        .users_url("memory:")
        .epoch_bound(BOUND);
    let (a, b, feeds) = two_instances(&config).await;
    let source_b = b.epoch_source();
    let client = redis::Client::open(server.url().as_str()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..3 {
        wait_listening(&feeds).await;
        source_b.current_version("u1").await.unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(killed, 2, "both listeners were killed");
        let took = bump_and_observe(&a, &source_b, "u1").await;
        println!("redis, listeners just killed: propagation {took:?}");
        assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");
    }
    wait_listening(&feeds).await;
    drop(users);
}

/// SQLite has no channel: another process sharing the file (the `bearer` CLI
/// bumping a user while the server runs) is seen within the bound, from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_instances_see_bumps_within_the_bound() {
    let dir = TempDir::new();
    let config = StoreConfig::new(dir.sqlite_url("shared.db")).epoch_bound(BOUND);
    let (a, b, feeds) = two_instances(&config).await;
    assert!(
        feeds.iter().all(|f| !f.is_listening()),
        "nothing to listen to"
    );
    let source_b = b.epoch_source();
    for _ in 0..2 {
        let took = bump_and_observe(&a, &source_b, "u1").await;
        assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");
    }
    // The instance that bumps sees it at once.
    let source_a = a.epoch_source();
    let version = a.bump_token_version("u1").await.unwrap();
    assert_eq!(source_a.current_version("u1").await.unwrap(), version);
}
