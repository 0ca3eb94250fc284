//! The conformance suite every store backend must pass (feature `conformance`).
//!
//! Each entry point takes an async factory making a fresh, empty store (its own
//! database, schema or key prefix), and panics with a message naming the broken
//! rule. Run them from a multi-threaded tokio runtime: the concurrency checks spawn
//! tasks that really race.
//!
//! Backends that cannot run [`Family::rotate`] under a row lock (a Lua script, a
//! PL/pgSQL function) re-express the decision; [`session_store`] runs every branch of
//! it (rotate, grace replay within the interval and under the bound, replays past
//! either, older and future generations, idle and absolute expiry, revoked, stale
//! epoch, unknown), which is what holds the copies equal.
//!
//! ```no_run
//! # async fn run() {
//! use issuer::conformance;
//! use issuer::store::{MemorySessionStore, MemoryThrottleStore, MemoryUserStore, MemoryClientStore};
//!
//! conformance::session_store(async || MemorySessionStore::new()).await;
//! conformance::throttle_store(async || MemoryThrottleStore::new()).await;
//! conformance::user_store(async || MemoryUserStore::new()).await;
//! conformance::client_store(async || MemoryClientStore::new()).await;
//! # }
//! ```
// Panicking with a message is how a test suite reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use token_core::Scopes;

use crate::client::Client;
use crate::family::{DeadFamily, Family, FamilySalt, RevokeReason, RotateOutcome, RotateRequest};
use crate::password::PasswordHash;
use crate::store::{ClientStore, SessionStore, StoreError, ThrottleStore, UserStore};
use crate::throttle::{LockoutPolicy, RateLimit};
use crate::transport::RefreshTransport;
use crate::user::User;

const T0: i64 = 1_700_000_000;
const IDLE: i64 = 3600;
const GRACE: i64 = 10;

/// A family as a login would create it, for user `user`, created at `at`.
pub fn sample_family(id: &str, user: &str, at: i64) -> Family {
    Family {
        id: id.to_owned(),
        user_id: user.to_owned(),
        client_id: Some("spa".to_owned()),
        generation: 1,
        salt: FamilySalt::from_bytes([7; FamilySalt::LEN]),
        scopes: "a b".parse().expect("valid scopes"),
        token_version: 0,
        created: at,
        last_used: at,
        rotated_at: at,
        replays: 0,
        idle_expires: at + IDLE,
        absolute_expires: at + 10 * IDLE,
        revoked: None,
        user_agent: Some("conformance/1".to_owned()),
        ip: Some([127, 0, 0, 1].into()),
    }
}

fn request(id: &str, presented: u64, now: i64, max_replays: u32) -> RotateRequest<'_> {
    RotateRequest {
        family_id: id,
        presented,
        now,
        idle_ttl: IDLE,
        grace: GRACE,
        max_replays,
    }
}

/// Every [`SessionStore`] rule, the races included.
pub async fn session_store<S, F, Fut>(make: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_and_get(&make().await).await;
    rotate_moves_one_generation(&make().await).await;
    grace_replays_repeat_the_current_generation(&make().await).await;
    reuse_revokes_the_family(&make().await).await;
    idle_and_absolute_expiry(&make().await).await;
    dead_families_stay_dead(&make().await).await;
    revoke_one_and_all_but_one(&make().await).await;
    list_by_user(&make().await).await;
    purge_in_batches(&make().await).await;
    epochs(&make().await).await;
    denied_tokens(&make().await).await;
    parallel_rotation(Arc::new(make().await)).await;
    rotation_racing_revocation(Arc::new(make().await)).await;
}

async fn create_and_get(store: &impl SessionStore) {
    let f = sample_family("f1", "u1", T0);
    store.create(&f).await.unwrap();
    assert_eq!(
        store.get("f1").await.unwrap(),
        Some(f.clone()),
        "get returns the row as created"
    );
    assert_eq!(
        store.create(&f).await,
        Err(StoreError::Conflict),
        "family ids are unique"
    );
    assert_eq!(store.get("nope").await.unwrap(), None);
    assert_eq!(
        store.rotate(request("nope", 1, T0, 5)).await.unwrap(),
        RotateOutcome::Dead(DeadFamily::Unknown),
        "rotating an unknown family"
    );
}

async fn rotate_moves_one_generation(store: &impl SessionStore) {
    store.create(&sample_family("f1", "u1", T0)).await.unwrap();
    let RotateOutcome::Rotated(f) = store.rotate(request("f1", 1, T0 + 100, 5)).await.unwrap()
    else {
        panic!("the current generation rotates");
    };
    assert_eq!(f.generation, 2);
    assert_eq!((f.last_used, f.rotated_at), (T0 + 100, T0 + 100));
    assert_eq!(f.idle_expires, T0 + 100 + IDLE, "idle expiry slides");
    assert_eq!(
        f.absolute_expires,
        T0 + 10 * IDLE,
        "absolute expiry never moves"
    );
    assert_eq!(
        store.get("f1").await.unwrap(),
        Some(f),
        "the rotation is persisted"
    );
}

async fn grace_replays_repeat_the_current_generation(store: &impl SessionStore) {
    store.create(&sample_family("f1", "u1", T0)).await.unwrap();
    store.rotate(request("f1", 1, T0 + 1, 2)).await.unwrap();
    for _ in 0..2 {
        match store
            .rotate(request("f1", 1, T0 + 1 + GRACE, 2))
            .await
            .unwrap()
        {
            RotateOutcome::GraceReplay(f) => assert_eq!(f.generation, 2, "a replay never forks"),
            other => panic!("a replay within the grace interval is served: {other:?}"),
        }
    }
    assert!(
        matches!(
            store.rotate(request("f1", 1, T0 + 2, 2)).await.unwrap(),
            RotateOutcome::Reuse(_)
        ),
        "replays past the bound are reuse"
    );
}

async fn reuse_revokes_the_family(store: &impl SessionStore) {
    store.create(&sample_family("f1", "u1", T0)).await.unwrap();
    store.rotate(request("f1", 1, T0 + 1, 5)).await.unwrap();
    // Past the grace interval, the previous token is theft.
    let RotateOutcome::Reuse(f) = store
        .rotate(request("f1", 1, T0 + 2 + GRACE, 5))
        .await
        .unwrap()
    else {
        panic!("a replay after the grace interval is reuse");
    };
    assert_eq!(f.revoked.map(|r| r.reason), Some(RevokeReason::Reuse));
    assert_eq!(
        store
            .rotate(request("f1", 2, T0 + 3 + GRACE, 5))
            .await
            .unwrap(),
        RotateOutcome::Dead(DeadFamily::Revoked(RevokeReason::Reuse)),
        "after reuse even the current token is dead"
    );
    // Two generations back is reuse even within the grace interval.
    store.create(&sample_family("f2", "u1", T0)).await.unwrap();
    store.rotate(request("f2", 1, T0 + 1, 5)).await.unwrap();
    store.rotate(request("f2", 2, T0 + 2, 5)).await.unwrap();
    assert!(matches!(
        store.rotate(request("f2", 1, T0 + 3, 5)).await.unwrap(),
        RotateOutcome::Reuse(_)
    ));
    // So is a generation from the future, and one no store can hold.
    for (id, presented) in [("f3", 3), ("f4", u64::MAX)] {
        store.create(&sample_family(id, "u1", T0)).await.unwrap();
        let RotateOutcome::Reuse(f) = store
            .rotate(request(id, presented, T0 + 1, 5))
            .await
            .unwrap()
        else {
            panic!("generation {presented} of a family at generation 1 is reuse");
        };
        assert_eq!(f.generation, 1, "reuse never rotates");
        assert_eq!(
            store.get(id).await.unwrap().unwrap().revoked,
            Some(crate::family::Revocation {
                at: T0 + 1,
                reason: RevokeReason::Reuse
            }),
            "reuse is persisted"
        );
    }
    // A replay with no grace left (replays == max) right after the rotation is reuse.
    store.create(&sample_family("f6", "u1", T0)).await.unwrap();
    store.rotate(request("f6", 1, T0 + 1, 0)).await.unwrap();
    assert!(matches!(
        store.rotate(request("f6", 1, T0 + 1, 0)).await.unwrap(),
        RotateOutcome::Reuse(_)
    ));
}

/// Dead families answer why, and answering changes nothing (except a stale one,
/// which is revoked).
async fn dead_families_stay_dead(store: &impl SessionStore) {
    let mut f = sample_family("revoked", "u1", T0);
    f.revoked = Some(crate::family::Revocation {
        at: T0 + 1,
        reason: RevokeReason::Logout,
    });
    store.create(&f).await.unwrap();
    assert_eq!(
        store
            .rotate(request("revoked", 1, T0 + 2, 5))
            .await
            .unwrap(),
        RotateOutcome::Dead(DeadFamily::Revoked(RevokeReason::Logout)),
        "a revoked family says why"
    );
    assert_eq!(store.get("revoked").await.unwrap(), Some(f), "unchanged");

    let expired = sample_family("expired", "u1", T0);
    store.create(&expired).await.unwrap();
    for presented in [0, 1, 2] {
        assert_eq!(
            store
                .rotate(request("expired", presented, T0 + IDLE + 1, 5))
                .await
                .unwrap(),
            RotateOutcome::Dead(DeadFamily::Expired),
            "expiry comes before any generation check"
        );
    }
    assert_eq!(
        store.get("expired").await.unwrap(),
        Some(expired),
        "unchanged"
    );

    // A huge idle lifetime saturates to the absolute expiry.
    store
        .create(&sample_family("long", "u1", T0))
        .await
        .unwrap();
    let mut long = request("long", 1, T0 + 1, 5);
    long.idle_ttl = i64::MAX;
    let RotateOutcome::Rotated(f) = store.rotate(long).await.unwrap() else {
        panic!("rotates");
    };
    assert_eq!(f.idle_expires, f.absolute_expires);

    // Stale: the epoch moved on after the family was made; the family is revoked.
    store.bump_epoch("u9", None, T0).await.unwrap();
    store
        .create(&sample_family("stale", "u9", T0))
        .await
        .unwrap();
    assert_eq!(
        store.rotate(request("stale", 1, T0 + 1, 5)).await.unwrap(),
        RotateOutcome::Dead(DeadFamily::Stale)
    );
    assert_eq!(
        store.get("stale").await.unwrap().unwrap().revoked,
        Some(crate::family::Revocation {
            at: T0 + 1,
            reason: RevokeReason::VersionBumped
        }),
        "a stale family is revoked"
    );
    assert_eq!(
        store.rotate(request("stale", 1, T0 + 2, 5)).await.unwrap(),
        RotateOutcome::Dead(DeadFamily::Revoked(RevokeReason::VersionBumped))
    );
}

async fn idle_and_absolute_expiry(store: &impl SessionStore) {
    store
        .create(&sample_family("idle", "u1", T0))
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate(request("idle", 1, T0 + IDLE, 5))
            .await
            .unwrap(),
        RotateOutcome::Dead(DeadFamily::Expired),
        "idle expiry"
    );
    let mut f = sample_family("abs", "u1", T0);
    f.absolute_expires = T0 + IDLE + 10;
    store.create(&f).await.unwrap();
    let RotateOutcome::Rotated(f) = store
        .rotate(request("abs", 1, T0 + IDLE - 1, 5))
        .await
        .unwrap()
    else {
        panic!("rotates before idle expiry");
    };
    assert_eq!(
        f.idle_expires,
        T0 + IDLE + 10,
        "idle expiry is capped by the absolute one"
    );
    assert_eq!(
        store
            .rotate(request("abs", 2, T0 + IDLE + 10, 5))
            .await
            .unwrap(),
        RotateOutcome::Dead(DeadFamily::Expired),
        "absolute expiry"
    );
}

async fn revoke_one_and_all_but_one(store: &impl SessionStore) {
    for id in ["a", "b", "c"] {
        store.create(&sample_family(id, "u1", T0)).await.unwrap();
    }
    store
        .create(&sample_family("other", "u2", T0))
        .await
        .unwrap();
    assert!(
        store
            .revoke("a", T0 + 1, RevokeReason::Logout)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke("a", T0 + 2, RevokeReason::Logout)
            .await
            .unwrap(),
        "revoking twice changes nothing"
    );
    assert!(
        !store
            .revoke("nope", T0, RevokeReason::Logout)
            .await
            .unwrap()
    );
    let a = store.get("a").await.unwrap().unwrap();
    assert_eq!(
        a.revoked.map(|r| (r.at, r.reason)),
        Some((T0 + 1, RevokeReason::Logout))
    );
    assert_eq!(
        store
            .revoke_all("u1", Some("c"), T0 + 3, RevokeReason::LogoutOthers)
            .await
            .unwrap(),
        1,
        "only b was still live"
    );
    assert!(
        store.get("c").await.unwrap().unwrap().revoked.is_none(),
        "the kept family lives"
    );
    assert!(
        store.get("other").await.unwrap().unwrap().revoked.is_none(),
        "other users untouched"
    );
    assert_eq!(
        store
            .revoke_all("u1", None, T0 + 4, RevokeReason::Admin)
            .await
            .unwrap(),
        1
    );
}

async fn list_by_user(store: &impl SessionStore) {
    store
        .create(&sample_family("late", "u1", T0 + 5))
        .await
        .unwrap();
    store
        .create(&sample_family("early", "u1", T0))
        .await
        .unwrap();
    store.create(&sample_family("x", "u2", T0)).await.unwrap();
    let ids: Vec<String> = store
        .list_by_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, ["early", "late"], "a user's families, oldest first");
    assert!(store.list_by_user("nobody").await.unwrap().is_empty());
}

async fn purge_in_batches(store: &impl SessionStore) {
    for n in 0..5 {
        store
            .create(&sample_family(&format!("old{n}"), "u1", T0))
            .await
            .unwrap();
    }
    store
        .create(&sample_family("live", "u1", T0 + 100 * IDLE))
        .await
        .unwrap();
    store
        .revoke("live2", T0, RevokeReason::Admin)
        .await
        .unwrap();
    store.deny_token("jti-old", T0 + 10).await.unwrap();
    store
        .deny_token("jti-live", T0 + 1000 * IDLE)
        .await
        .unwrap();
    let cutoff = T0 + 2 * IDLE;
    assert_eq!(
        store.purge(cutoff, 4).await.unwrap(),
        4,
        "a batch is bounded"
    );
    let rest = store.purge(cutoff, 4).await.unwrap();
    assert_eq!(rest, 2, "one family and one token id were left");
    assert_eq!(store.purge(cutoff, 4).await.unwrap(), 0);
    let ids: Vec<String> = store
        .list_by_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, ["live"], "live families are kept");
    assert!(store.is_token_denied("jti-live", T0).await.unwrap());
}

async fn epochs(store: &impl SessionStore) {
    assert_eq!(store.epoch("u1").await.unwrap(), 0, "never bumped: 0");
    for id in ["keep", "kill"] {
        store.create(&sample_family(id, "u1", T0)).await.unwrap();
    }
    store
        .create(&sample_family("other", "u2", T0))
        .await
        .unwrap();
    assert_eq!(
        store.bump_epoch("u1", Some("keep"), T0 + 1).await.unwrap(),
        1
    );
    assert_eq!(store.epoch("u1").await.unwrap(), 1);
    assert_eq!(store.epoch("u2").await.unwrap(), 0, "epochs are per user");
    let kill = store.get("kill").await.unwrap().unwrap();
    assert_eq!(
        kill.revoked.map(|r| r.reason),
        Some(RevokeReason::VersionBumped)
    );
    let keep = store.get("keep").await.unwrap().unwrap();
    assert!(keep.revoked.is_none());
    assert_eq!(
        keep.token_version, 1,
        "the kept family moves to the new version"
    );
    assert!(matches!(
        store.rotate(request("keep", 1, T0 + 2, 5)).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    // A family created under the old version (a login racing the bump) is stale.
    store
        .create(&sample_family("racing", "u1", T0))
        .await
        .unwrap();
    assert_eq!(
        store.rotate(request("racing", 1, T0 + 3, 5)).await.unwrap(),
        RotateOutcome::Dead(DeadFamily::Stale)
    );
    assert_eq!(store.bump_epoch("u1", None, T0 + 4).await.unwrap(), 2);
    assert!(store.get("keep").await.unwrap().unwrap().revoked.is_some());
}

async fn denied_tokens(store: &impl SessionStore) {
    assert!(!store.is_token_denied("j", T0).await.unwrap());
    store.deny_token("j", T0 + 60).await.unwrap();
    assert!(store.is_token_denied("j", T0 + 59).await.unwrap());
    assert!(
        !store.is_token_denied("j", T0 + 60).await.unwrap(),
        "denial ends with the token's expiry"
    );
}

/// 50 tasks present the same current token at once: exactly one rotation, 49 grace
/// replays, all naming the same new generation.
async fn parallel_rotation<S: SessionStore>(store: Arc<S>) {
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread,
        "run the conformance suite on a multi-threaded runtime"
    );
    store
        .create(&sample_family("race", "u1", T0))
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.rotate(request("race", 1, T0 + 1, 64)).await.unwrap()
        }));
    }
    let (mut rotated, mut replays) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            RotateOutcome::Rotated(f) => {
                rotated += 1;
                assert_eq!(f.generation, 2);
            }
            RotateOutcome::GraceReplay(f) => {
                replays += 1;
                assert_eq!(f.generation, 2, "replays see the winner's generation");
            }
            other => panic!("unexpected outcome in the race: {other:?}"),
        }
    }
    assert_eq!((rotated, replays), (1, 49), "one compare-and-swap wins");
    let after = store.get("race").await.unwrap().unwrap();
    assert_eq!((after.generation, after.replays), (2, 49));
}

/// A refresh racing a revocation (one session, all of the user's, or an epoch bump),
/// again and again: whichever lands first, afterwards the family is dead and no
/// generation of it refreshes. There is never a live successor of a revoked family.
async fn rotation_racing_revocation<S: SessionStore>(store: Arc<S>) {
    for round in 0..30u32 {
        let id = format!("rr{round}");
        let user = format!("racer{round}");
        store.create(&sample_family(&id, &user, T0)).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let rotation = {
            let (store, start, id) = (Arc::clone(&store), Arc::clone(&start), id.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.rotate(request(&id, 1, T0 + 1, 5)).await.unwrap()
            })
        };
        let revocation = {
            let (store, start, id) = (Arc::clone(&store), Arc::clone(&start), id.clone());
            tokio::spawn(async move {
                start.wait().await;
                match round % 3 {
                    0 => {
                        store
                            .revoke(&id, T0 + 1, RevokeReason::Logout)
                            .await
                            .unwrap();
                    }
                    1 => {
                        store
                            .revoke_all(&user, None, T0 + 1, RevokeReason::Admin)
                            .await
                            .unwrap();
                    }
                    _ => {
                        store.bump_epoch(&user, None, T0 + 1).await.unwrap();
                    }
                }
            })
        };
        let outcome = rotation.await.unwrap();
        revocation.await.unwrap();
        match &outcome {
            RotateOutcome::Rotated(f) => assert_eq!(f.generation, 2),
            RotateOutcome::Dead(DeadFamily::Revoked(_) | DeadFamily::Stale) => {}
            other => panic!("unexpected outcome racing a revocation: {other:?}"),
        }
        let family = store.get(&id).await.unwrap().unwrap();
        assert!(family.revoked.is_some(), "the revocation always holds");
        for presented in [1, 2, 3] {
            assert!(
                matches!(
                    store
                        .rotate(request(&id, presented, T0 + 2, 5))
                        .await
                        .unwrap(),
                    RotateOutcome::Dead(_)
                ),
                "no live successor of a revoked family (round {round}, generation {presented})"
            );
        }
    }
}

/// Every [`ThrottleStore`] rule.
pub async fn throttle_store<S, F, Fut>(make: F)
where
    S: ThrottleStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    windows_edge_cases(&make().await).await;
    parallel_hits(Arc::new(make().await)).await;
    let store = make().await;
    let limit = RateLimit {
        limit: 3,
        window_secs: 60,
    };
    for _ in 0..3 {
        assert_eq!(store.hit("ip", T0, limit).await.unwrap(), None);
    }
    assert_eq!(
        store.hit("ip", T0 + 10, limit).await.unwrap(),
        Some(50),
        "over the limit: wait for the window"
    );
    assert_eq!(
        store.hit("other", T0 + 10, limit).await.unwrap(),
        None,
        "keys are independent"
    );
    assert_eq!(
        store.hit("ip", T0 + 60, limit).await.unwrap(),
        None,
        "a new window starts over"
    );

    let policy = LockoutPolicy {
        threshold: 2,
        base_secs: 10,
        max_secs: 25,
        forget_after_secs: 100,
    };
    assert_eq!(
        store.record_failure("pair", T0, policy).await.unwrap(),
        None
    );
    assert_eq!(store.locked("pair", T0).await.unwrap(), None);
    assert_eq!(
        store.record_failure("pair", T0, policy).await.unwrap(),
        Some(10)
    );
    assert_eq!(store.locked("pair", T0 + 4).await.unwrap(), Some(6));
    assert_eq!(
        store.record_failure("pair", T0 + 10, policy).await.unwrap(),
        Some(20),
        "lockouts escalate"
    );
    assert_eq!(
        store.record_failure("pair", T0 + 30, policy).await.unwrap(),
        Some(25),
        "and are capped"
    );
    assert_eq!(
        store.locked("pair", T0 + 55).await.unwrap(),
        None,
        "never for good"
    );
    store.reset("pair").await.unwrap();
    assert_eq!(
        store.record_failure("pair", T0 + 56, policy).await.unwrap(),
        None,
        "reset forgets failures"
    );
    assert_eq!(
        store.record_failure("quiet", T0, policy).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .record_failure("quiet", T0 + 101, policy)
            .await
            .unwrap(),
        None,
        "old failures are forgotten"
    );

    let purged = store.purge(T0 + 1000, 100).await.unwrap();
    assert!(purged >= 3, "idle entries are purged ({purged})");
    assert_eq!(store.purge(T0 + 1000, 100).await.unwrap(), 0);
}

/// Fixed windows at their edges: a clock that went back, a new key early in time
/// (it starts from the default entry), the unlimited and never-locking policies.
async fn windows_edge_cases(store: &impl ThrottleStore) {
    let limit = RateLimit {
        limit: 1,
        window_secs: 10,
    };
    assert_eq!(store.hit("k", T0, limit).await.unwrap(), None);
    assert_eq!(store.hit("k", T0 + 9, limit).await.unwrap(), Some(1));
    assert_eq!(
        store.hit("k", T0 - 5, limit).await.unwrap(),
        None,
        "a clock that went back starts a new window"
    );
    // A new key at time 5 with a 10 s window: the default entry's window (from 0)
    // is still open, exactly as in memory.
    assert_eq!(store.hit("early", 5, limit).await.unwrap(), None);
    assert_eq!(store.hit("early", 6, limit).await.unwrap(), Some(4));
    for _ in 0..3 {
        assert_eq!(
            store.hit("free", T0, RateLimit::UNLIMITED).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .record_failure("free", T0, LockoutPolicy::NEVER)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(store.locked("free", T0).await.unwrap(), None);
    // Counting and failures live side by side on one key.
    let policy = LockoutPolicy {
        threshold: 1,
        base_secs: 0,
        max_secs: 100,
        forget_after_secs: 100,
    };
    assert_eq!(
        store.record_failure("k", T0 + 20, policy).await.unwrap(),
        Some(0),
        "a zero-second lockout is still an answer"
    );
    assert_eq!(store.locked("k", T0 + 20).await.unwrap(), None);
}

/// Concurrent hits on one key are all counted.
async fn parallel_hits<S: ThrottleStore>(store: Arc<S>) {
    let limit = RateLimit {
        limit: 1000,
        window_secs: 3600,
    };
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.hit("busy", T0, limit).await.unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), None);
    }
    let tight = RateLimit {
        limit: 40,
        window_secs: 3600,
    };
    assert_eq!(
        store.hit("busy", T0, tight).await.unwrap(),
        Some(3600),
        "the 41st hit is over a limit of 40: no hit was lost"
    );
}

/// The [`UserStore`] rules, for backends that support administration.
pub async fn user_store<S, F, Fut>(make: F)
where
    S: UserStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = make().await;
    let user = User {
        id: "u1".into(),
        login: "alice".into(),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
        active: true,
        scopes: "a".parse::<Scopes>().unwrap(),
    };
    store.create(&user).await.unwrap();
    assert_eq!(
        store.find_by_login("alice").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.get("u1").await.unwrap(), Some(user.clone()));
    assert_eq!(store.find_by_login("bob").await.unwrap(), None);
    let mut twin = user.clone();
    twin.id = "u2".into();
    assert_eq!(
        store.create(&twin).await,
        Err(StoreError::Conflict),
        "logins are unique"
    );
    assert_eq!(
        store.find_by_login("alice").await.unwrap().map(|u| u.id),
        Some("u1".into())
    );
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$bmV3");
    store.set_password_hash("u1", &hash).await.unwrap();
    store.set_active("u1", false).await.unwrap();
    store
        .set_scopes("u1", &"b c".parse().unwrap())
        .await
        .unwrap();
    let changed = store.get("u1").await.unwrap().unwrap();
    assert_eq!(changed.password_hash, hash);
    assert!(!changed.active);
    assert_eq!(changed.scopes.as_str(), "b c");
    assert_eq!(
        store.set_active("nobody", true).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.set_scopes("nobody", &Scopes::empty()).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.set_password_hash("nobody", &hash).await,
        Err(StoreError::NotFound)
    );
    let mut same_id = user.clone();
    same_id.login = "alice2".into();
    assert_eq!(
        store.create(&same_id).await,
        Err(StoreError::Conflict),
        "ids are unique"
    );
    assert_eq!(store.find_by_login("alice2").await.unwrap(), None);
    let mut bob = user.clone();
    bob.id = "u0".into();
    bob.login = "bob".into();
    store.create(&bob).await.unwrap();
    let logins: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    assert_eq!(logins, ["alice", "bob"], "sorted by login");
}

/// The [`ClientStore`] rules.
pub async fn client_store<S, F, Fut>(make: F)
where
    S: ClientStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = make().await;
    let public = Client::public("spa", RefreshTransport::Cookie);
    let (service, _secret) = Client::confidential("svc", "x".parse().unwrap()).unwrap();
    store.put(&service).await.unwrap();
    store.put(&public).await.unwrap();
    assert_eq!(store.get("spa").await.unwrap(), Some(public.clone()));
    assert_eq!(store.get("svc").await.unwrap(), Some(service.clone()));
    let ids: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["spa", "svc"], "sorted by id");
    let replaced = Client::public("spa", RefreshTransport::Body);
    store.put(&replaced).await.unwrap();
    assert_eq!(store.get("spa").await.unwrap(), Some(replaced));
    assert!(store.remove("spa").await.unwrap());
    assert!(!store.remove("spa").await.unwrap());
    assert_eq!(store.get("spa").await.unwrap(), None);
}
