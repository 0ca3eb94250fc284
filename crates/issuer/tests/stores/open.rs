//! Opening stores: errors that name the problem without secrets, migrations on open
//! and on their own, sessions surviving a restart, audit events persisted, and the
//! whole issuer over HTTP on every backend.

use std::time::Duration;

use issuer::store::{self, StoreConfig, StoreError, Stores};
use issuer::{AuditKind, Issuer, PasswordPolicy, RefreshKey, RequestMeta};
use serde_json::json;
use sqlx::Connection;
use token_core::{Algorithm, EpochSource, Scopes, SigningKey};

use crate::common::Env;
use crate::support::{PgDb, REDIS, RedisPrefix, TempDir, free_port};

#[tokio::test]
async fn errors_name_the_problem_without_secrets() {
    let expect_config = async |config: StoreConfig, needle: &str| {
        let Err(StoreError::Config(message)) = store::open(&config).await else {
            panic!("a configuration error for {config:?}");
        };
        assert!(message.contains(needle), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    };
    expect_config(StoreConfig::new("mysql://root:s3cret@db/x"), "`mysql`").await;
    expect_config(StoreConfig::new(REDIS), "users_url").await;
    expect_config(
        StoreConfig::new(REDIS).users_url("redis://:s3cret@127.0.0.1"),
        "not Redis",
    )
    .await;
    expect_config(
        StoreConfig::new("postgres://127.0.0.1/x").schema("Bad-Name"),
        "schema",
    )
    .await;

    // Unreachable servers: Unavailable, naming the server, never the password.
    let port = free_port();
    for url in [
        format!("postgres://me:s3cret@127.0.0.1:{port}/db"),
        format!("redis://:s3cret@127.0.0.1:{port}"),
    ] {
        let config = StoreConfig::new(&url)
            .users_url("memory:")
            .connect_timeout(Duration::from_millis(300));
        let Err(StoreError::Unavailable(message)) = store::open(&config).await else {
            panic!("unreachable: {url}");
        };
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(!format!("{config:?}").contains("s3cret"));
    }
    let Err(StoreError::Unavailable(message)) =
        store::open(&StoreConfig::new("sqlite:/nonexistent/dir/x.db")).await
    else {
        panic!("a file that cannot be created");
    };
    assert!(message.contains("SQLite"), "{message}");
}

#[tokio::test]
async fn migrations_run_on_open_alone_and_fail_loudly() {
    let db = PgDb::create().await;
    let config = StoreConfig::new(db.url()).schema("tenant");
    // Separately, then an open that does not migrate.
    store::migrate(&config).await.unwrap();
    store::migrate(&config).await.unwrap();
    let stores = store::open(&config.clone().migrate_on_open(false))
        .await
        .unwrap();
    stores
        .users
        .create(&issuer::User {
            id: "u".into(),
            login: "u".into(),
            password_hash: issuer::PasswordHash::from_phc("$argon2id$x"),
            active: true,
            scopes: Scopes::empty(),
        })
        .await
        .unwrap();
    drop(stores);
    // A migration that no longer matches what was applied is an error that says so.
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    sqlx::query("UPDATE tenant._sqlx_migrations SET checksum = '\\x00'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let Err(StoreError::Migration(message)) = store::open(&config).await else {
        panic!("a migration mismatch");
    };
    assert!(message.contains('1'), "{message}");

    // SQLite: `migrate` creates the file and its tables.
    let dir = TempDir::new();
    let sqlite = StoreConfig::new(dir.sqlite_url("m.db"));
    store::migrate(&sqlite).await.unwrap();
    assert!(dir.0.join("m.db").exists());
    store::open(&sqlite.migrate_on_open(false)).await.unwrap();
}

fn issuer_with(stores: Stores, key: &[u8]) -> Issuer {
    Issuer::builder()
        .signing_key(
            SigningKey::generate(Algorithm::EdDSA)
                .unwrap()
                .into_signing_key(),
        )
        .refresh_key(RefreshKey::from_bytes(key).unwrap())
        .password_policy(PasswordPolicy::INSECURE_FAST)
        .hash_workers(1)
        .stores(stores)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_survive_a_restart() {
    let dir = TempDir::new();
    let config = StoreConfig::new(dir.sqlite_url("issuer.db"));
    let (_, key) = RefreshKey::generate().unwrap();
    let meta = RequestMeta::default();
    let token = {
        let issuer = issuer_with(store::open(&config).await.unwrap(), &key);
        issuer
            .add_user("alice", "pw", "a".parse().unwrap())
            .await
            .unwrap();
        let login = issuer
            .login("alice", "pw", &Scopes::empty(), None, &meta)
            .await
            .unwrap();
        login.refresh.unwrap().token
    };
    // A new process: same file, same refresh key.
    let issuer = issuer_with(store::open(&config).await.unwrap(), &key);
    let next = issuer
        .refresh(token.expose(), &Scopes::empty(), &meta)
        .await
        .unwrap();
    assert!(next.refresh.is_some());
    assert_eq!(issuer.list_users().await.unwrap().len(), 1);
}

/// Polls the audit table until `kind` shows up (the sink writes in the background).
async fn wait_for_audit(count: impl AsyncFn() -> i64) {
    for _ in 0..200 {
        if count().await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the audit event was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_stores_persist_audit_events() {
    let (_, key) = RefreshKey::generate().unwrap();
    let meta = RequestMeta::default();
    let kind = AuditKind::LoginSucceeded.as_str();

    let db = PgDb::create().await;
    let issuer = issuer_with(
        store::open(&StoreConfig::new(db.url())).await.unwrap(),
        &key,
    );
    issuer
        .add_user("alice", "pw", Scopes::empty())
        .await
        .unwrap();
    issuer
        .login("alice", "pw", &Scopes::empty(), None, &meta)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    wait_for_audit(async || {
        sqlx::query_scalar("SELECT count(*) FROM issuer_audit_events WHERE kind = $1")
            .bind(kind)
            .fetch_one(&pool)
            .await
            .unwrap()
    })
    .await;
    pool.close().await;

    let dir = TempDir::new();
    let url = dir.sqlite_url("audit.db");
    let issuer = issuer_with(store::open(&StoreConfig::new(&url)).await.unwrap(), &key);
    issuer
        .add_user("alice", "pw", Scopes::empty())
        .await
        .unwrap();
    issuer
        .login("alice", "pw", &Scopes::empty(), None, &meta)
        .await
        .unwrap();
    let stores = store::sqlite::SqliteStore::open(&StoreConfig::new(&url))
        .await
        .unwrap();
    wait_for_audit(async || {
        sqlx::query_scalar("SELECT count(*) FROM issuer_audit_events WHERE kind = ?")
            .bind(kind)
            .fetch_one(stores.pool())
            .await
            .unwrap()
    })
    .await;
}

/// Login, refresh, the device list, logout of other sessions, RFC 7009 revocation
/// and a password change, over HTTP, with every store from `stores`.
async fn http_flow(stores: Stores) {
    let backend = stores.backend();
    let env = Env::with(|b| b.stores(stores)).await.with_alice().await;
    let first = env.login_cli("a").await;
    let second = env.login_cli("a b").await;
    let r = env.refresh_body(&first.field("refresh_token")).await;
    assert_eq!(r.status, 200, "{backend}: {}", r.text());
    let access = r.field("access_token");
    let bearer = format!("Bearer {access}");
    let sessions = env
        .request(
            http::Method::GET,
            "/auth/sessions",
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(sessions.status, 200, "{backend}: {}", sessions.text());
    assert_eq!(
        sessions.json()["sessions"].as_array().map(Vec::len),
        Some(2),
        "{backend}: {}",
        sessions.text()
    );
    // Logging out the others ends the second session.
    let logout = env
        .json(
            "/auth/logout",
            &json!({ "refresh_token": r.field("refresh_token"), "scope": "others" }),
            &[],
        )
        .await;
    assert_eq!(logout.status, 204, "{backend}: {}", logout.text());
    env.refresh_body(&second.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    // RFC 7009 on the access token: its jti is denied.
    let revoke = env.form("/auth/revoke", &[("token", &access)], &[]).await;
    assert_eq!(revoke.status, 200, "{backend}");
    assert!(env.issuer.check_access_token(&access).await.is_err());
    // A password change bumps the epoch: every session ends.
    let alice = env.issuer.find_user("alice").await.unwrap().unwrap();
    env.issuer
        .set_password(&alice.id, "new horse", None)
        .await
        .unwrap();
    env.refresh_body(&r.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        env.issuer
            .epoch_source()
            .current_version(&alice.id)
            .await
            .unwrap(),
        1
    );
    env.issuer.purge_expired().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_works_on_every_backend() {
    http_flow(store::open(&StoreConfig::new("memory:")).await.unwrap()).await;
    let dir = TempDir::new();
    http_flow(
        store::open(&StoreConfig::new(dir.sqlite_url("flow.db")))
            .await
            .unwrap(),
    )
    .await;
    let db = PgDb::create().await;
    http_flow(store::open(&StoreConfig::new(db.url())).await.unwrap()).await;
    let prefix = RedisPrefix::new();
    http_flow(
        store::open(
            &StoreConfig::new(REDIS)
                .users_url(db.url())
                .schema("redis_users")
                .key_prefix(prefix.sub()),
        )
        .await
        .unwrap(),
    )
    .await;
}

/// 50 tabs refresh one token at once through the issuer: one rotation, 49 grace
/// replays, one token handed to all of them, on every shared backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tabs_get_one_token_on_every_backend() {
    let dir = TempDir::new();
    let db = PgDb::create().await;
    let prefix = RedisPrefix::new();
    let configs = [
        StoreConfig::new(dir.sqlite_url("tabs.db")),
        StoreConfig::new(db.url()).max_connections(16),
        StoreConfig::new(REDIS)
            .users_url("memory:")
            .key_prefix(prefix.sub()),
    ];
    for config in configs {
        let audit = issuer::MemoryAuditSink::new();
        let stores = store::open(&config).await.unwrap();
        let backend = stores.backend();
        let issuer = Issuer::builder()
            .signing_key(
                SigningKey::generate(Algorithm::EdDSA)
                    .unwrap()
                    .into_signing_key(),
            )
            .password_policy(PasswordPolicy::INSECURE_FAST)
            .hash_workers(1)
            .audit(audit.clone())
            .stores(stores)
            .build()
            .unwrap();
        issuer
            .add_user("tabs", "pw", Scopes::empty())
            .await
            .unwrap();
        let meta = RequestMeta::default();
        let token = issuer
            .login("tabs", "pw", &Scopes::empty(), None, &meta)
            .await
            .unwrap()
            .refresh
            .unwrap()
            .token;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (issuer, start, token) = (issuer.clone(), start.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                issuer
                    .refresh(token.expose(), &Scopes::empty(), &RequestMeta::default())
                    .await
                    .unwrap()
                    .refresh
                    .unwrap()
                    .token
                    .expose()
                    .to_owned()
            }));
        }
        let mut issued = std::collections::HashSet::new();
        for task in tasks {
            issued.insert(task.await.unwrap());
        }
        assert_eq!(issued.len(), 1, "{backend}: one token for every tab");
        assert_eq!(audit.of_kind(AuditKind::Refreshed).len(), 1, "{backend}");
        assert_eq!(audit.of_kind(AuditKind::GraceReplay).len(), 49, "{backend}");
        assert!(
            audit.of_kind(AuditKind::ReuseDetected).is_empty(),
            "{backend}"
        );
    }
}
