//! Throttling over real TCP: escalating lockouts and their reset, per-ip and
//! per-username limits, the refresh limit, and the trusted-proxy switch.

mod common;

use std::net::IpAddr;

use common::Env;
use issuer::{AuditKind, LockoutPolicy, RateLimit, ThrottlePolicy};

async fn fail(env: &Env, headers: &[(&str, &str)]) -> common::Resp {
    env.form(
        "/auth/token",
        &[("username", "alice"), ("password", "wrong")],
        headers,
    )
    .await
}

async fn succeed(env: &Env) -> common::Resp {
    env.form(
        "/auth/token",
        &[("username", "alice"), ("password", "correct horse")],
        &[],
    )
    .await
}

#[tokio::test]
async fn lockout_escalates_and_resets() {
    let env = Env::start().await.with_alice().await;
    for _ in 0..4 {
        fail(&env, &[]).await.assert_error(400, "invalid_grant");
    }
    // The fifth failure locks the pair for 1 s...
    fail(&env, &[]).await.assert_error(400, "invalid_grant");
    let locked = succeed(&env).await;
    locked.assert_error(429, "slow_down");
    assert_eq!(
        locked.header("retry-after"),
        Some("1"),
        "even the right password waits"
    );
    assert_eq!(env.audit.of_kind(AuditKind::LoginThrottled).len(), 1);
    // ...each further failure doubles it...
    env.advance(1);
    fail(&env, &[]).await.assert_error(400, "invalid_grant");
    assert_eq!(succeed(&env).await.header("retry-after"), Some("2"));
    // ...and it always ends: after the wait, the right password gets in and resets
    // the count, so the next failure is a plain failure again.
    env.advance(2);
    assert_eq!(succeed(&env).await.status, 200);
    fail(&env, &[]).await.assert_error(400, "invalid_grant");
    assert_eq!(succeed(&env).await.status, 200);
}

#[tokio::test]
async fn per_ip_attempts_are_limited() {
    let env = Env::with(|b| {
        b.throttle(ThrottlePolicy {
            ip: RateLimit {
                limit: 3,
                window_secs: 60,
            },
            ..ThrottlePolicy::default()
        })
    })
    .await
    .with_alice()
    .await;
    for _ in 0..3 {
        assert_eq!(succeed(&env).await.status, 200);
    }
    let limited = succeed(&env).await;
    limited.assert_error(429, "slow_down");
    assert_eq!(limited.header("retry-after"), Some("60"));
    env.advance(60);
    assert_eq!(succeed(&env).await.status, 200);
}

#[tokio::test]
async fn a_username_is_protected_across_addresses_via_trusted_proxy() {
    let proxy: IpAddr = [127, 0, 0, 1].into();
    let env = Env::with(|b| {
        b.trusted_proxy(proxy).throttle(ThrottlePolicy {
            user: LockoutPolicy {
                threshold: 3,
                base_secs: 30,
                max_secs: 600,
                forget_after_secs: 3600,
            },
            ..ThrottlePolicy::default()
        })
    })
    .await
    .with_alice()
    .await;
    // Three different clients behind the proxy, one failure each.
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        fail(&env, &[("x-forwarded-for", ip)])
            .await
            .assert_error(400, "invalid_grant");
    }
    let r = fail(&env, &[("x-forwarded-for", "198.51.100.4")]).await;
    r.assert_error(429, "slow_down");
    assert_eq!(r.header("retry-after"), Some("30"));
    let failed = env.audit.of_kind(AuditKind::LoginFailed);
    assert_eq!(
        failed[0].ip,
        Some("198.51.100.1".parse().unwrap()),
        "the forwarded client is recorded"
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    let env = Env::start().await.with_alice().await;
    fail(&env, &[("x-forwarded-for", "203.0.113.9")]).await;
    let failed = env.audit.of_kind(AuditKind::LoginFailed);
    assert_eq!(
        failed[0].ip,
        Some([127, 0, 0, 1].into()),
        "a client cannot pick its own address"
    );
}

#[tokio::test]
async fn refreshes_have_their_own_looser_limit() {
    let env = Env::with(|b| {
        b.throttle(ThrottlePolicy {
            refresh_ip: RateLimit {
                limit: 2,
                window_secs: 60,
            },
            ..ThrottlePolicy::default()
        })
    })
    .await
    .with_alice()
    .await;
    let mut rt = env.login_cli("a").await.field("refresh_token");
    for _ in 0..2 {
        rt = env.refresh_body(&rt).await.field("refresh_token");
    }
    let limited = env.refresh_body(&rt).await;
    limited.assert_error(429, "slow_down");
    assert!(limited.header("retry-after").is_some());
    // Being throttled did not cost the session.
    env.advance(60);
    assert_eq!(env.refresh_body(&rt).await.status, 200);
}
