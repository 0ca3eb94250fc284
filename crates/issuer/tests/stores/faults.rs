//! Servers stopped mid-run: private PostgreSQL and Redis servers on free ports,
//! killed under a running issuer (served over real HTTP). Every answer is a 200 or
//! a 503 `temporarily_unavailable`, never a wrong one; nothing is half-applied; the
//! issuer recovers by itself once the server is back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use issuer::store::{self, StoreConfig};
use issuer::{AuditKind, RateLimit, ThrottlePolicy};

use crate::common::Env;
use crate::support::{PgDb, PrivatePg, PrivateRedis, TempDir};

trait Server {
    fn stop(&mut self);
    fn resume(&mut self);
}

impl Server for PrivatePg {
    fn stop(&mut self) {
        PrivatePg::stop(self);
    }
    fn resume(&mut self) {
        PrivatePg::resume(self);
    }
}

impl Server for PrivateRedis {
    fn stop(&mut self) {
        PrivateRedis::stop(self);
    }
    fn resume(&mut self) {
        PrivateRedis::resume(self);
    }
}

/// Default throttling, except a refresh limit these loops never reach (the counter
/// still lives in the store under test).
fn throttle() -> ThrottlePolicy {
    ThrottlePolicy {
        refresh_ip: RateLimit {
            limit: 1_000_000,
            window_secs: 60,
        },
        ..ThrottlePolicy::default()
    }
}

fn assert_unavailable(r: &crate::common::Resp) {
    r.assert_error(503, "temporarily_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
}

async fn outage(env: Arc<Env>, server: &mut dyn Server) {
    // 1. A stopped server: refreshes and logins get 503, and change nothing.
    let token = env.login_cli("a").await.field("refresh_token");
    let token = {
        let r = env.refresh_body(&token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.field("refresh_token")
    };
    tokio::task::block_in_place(|| server.stop());
    for _ in 0..3 {
        assert_unavailable(&env.refresh_body(&token).await);
    }
    let login = env
        .form(
            "/auth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse"),
                ("client_id", "cli"),
            ],
            &[],
        )
        .await;
    assert_unavailable(&login);
    tokio::task::block_in_place(|| server.resume());
    let replays_before = env.audit.of_kind(AuditKind::GraceReplay).len();
    let recovered = refresh_until_up(&env, &token).await;
    assert_eq!(recovered.status, 200, "{}", recovered.text());
    assert_eq!(
        env.audit.of_kind(AuditKind::GraceReplay).len(),
        replays_before,
        "the token was still current: the failed attempts changed nothing"
    );

    // 2. Killed while four clients refresh as fast as they can.
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(env.login_cli("a").await.field("refresh_token"));
    }
    let resumed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for mut token in tokens {
        let (env, resumed) = (Arc::clone(&env), Arc::clone(&resumed));
        tasks.push(tokio::spawn(async move {
            let mut statuses = BTreeMap::<u16, u32>::new();
            let mut ok_after_resume = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while ok_after_resume < 3 {
                assert!(Instant::now() < deadline, "recovered in time");
                let r = env.refresh_body(&token).await;
                *statuses.entry(r.status).or_default() += 1;
                match r.status {
                    200 => {
                        token = r.field("refresh_token");
                        if resumed.load(Ordering::SeqCst) {
                            ok_after_resume += 1;
                        }
                    }
                    503 => {
                        assert_unavailable(&r);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("a wrong answer during the outage: {other} {}", r.text()),
                }
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| server.stop());
    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::task::block_in_place(|| server.resume());
    resumed.store(true, Ordering::SeqCst);
    let mut unavailable = 0;
    for task in tasks {
        let statuses = task.await.unwrap();
        unavailable += statuses.get(&503).copied().unwrap_or(0);
    }
    assert!(unavailable > 0, "the outage was seen");
    assert!(
        env.audit.of_kind(AuditKind::ReuseDetected).is_empty(),
        "no refresh was half-applied: no client's token ever went stale"
    );
}

/// Refreshes until the store answers again; every answer meanwhile is a 503.
async fn refresh_until_up(env: &Env, token: &str) -> crate::common::Resp {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = env.refresh_body(token).await;
        if r.status != 503 {
            return r;
        }
        assert_unavailable(&r);
        assert!(Instant::now() < deadline, "the issuer recovered by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_mid_run() {
    let mut server = tokio::task::block_in_place(PrivatePg::start);
    let db = PgDb::create_on(&server.admin_url(), &server.host_url()).await;
    let stores = store::open(
        &StoreConfig::new(db.url())
            .connect_timeout(Duration::from_millis(500))
            .max_connections(4),
    )
    .await
    .unwrap();
    let env = Arc::new(
        Env::with(|b| b.stores(stores).throttle(throttle()))
            .await
            .with_alice()
            .await,
    );
    outage(env, &mut server).await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stopped_mid_run() {
    let mut server = tokio::task::block_in_place(PrivateRedis::start);
    let users = TempDir::new();
    let stores = store::open(
        &StoreConfig::new(server.url())
            .users_url(users.sqlite_url("users.db"))
            .connect_timeout(Duration::from_millis(500))
            .request_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    let env = Arc::new(
        Env::with(|b| b.stores(stores).throttle(throttle()))
            .await
            .with_alice()
            .await,
    );
    outage(env, &mut server).await;
}
