//! Remote keys against a real local issuer over TCP: rotation, outages, slow and
//! broken issuers, floods of made-up `kid`s, discovery, freshness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    AUDIENCE, ApiClient, Discovery, OAUTH, OIDC, TestIssuer, random_kid, serve_api, with_kid,
};
use http::{Response, StatusCode};
use remote_keys::{Error, GetRequest, HttpError, HttpGet, RemoteKeys, Source};
use token_core::{BoxFuture, Clock, ManualClock, SharedKeyRing};
use tower_bearer::KeyRefresh;

/// A source for `issuer`'s JWKS with test-sized settings.
fn builder(issuer: &TestIssuer) -> remote_keys::RemoteKeysBuilder {
    RemoteKeys::builder(Source::jwks_url(issuer.jwks_url()))
        .timeout(Duration::from_secs(2))
        .min_refresh(Duration::from_secs(60))
        .default_refresh(Duration::from_secs(300))
}

/// The API behind a layer fed by `remote`, and a client for it.
async fn api(remote: &RemoteKeys, issuer: &TestIssuer) -> ApiClient {
    let verifier = remote
        .verifier()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    ApiClient::new(serve_api(remote.layer(verifier)).await)
}

fn same_ring(a: &SharedKeyRing, before: &Arc<token_core::KeyRing>) -> bool {
    Arc::ptr_eq(&a.snapshot(), before)
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch_without_restart() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer).start().await.unwrap();
    let client = api(&remote, &issuer).await;
    let old_token = issuer.token("alice");
    assert_eq!(client.get(&old_token).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), 1);

    // The issuer rotates: a new key signs, the old one stays published.
    let new_kid = issuer.rotate();
    let new_token = issuer.token("bob");
    assert_eq!(client.get(&new_token).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), 2, "exactly one refetch");
    assert!(remote.key_ring().load().find(&new_kid).is_some());

    // Known now: no more fetches, and the old key still verifies.
    for _ in 0..20 {
        assert_eq!(
            client.get(&issuer.token("bob")).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(client.get(&old_token).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_unknown_kid_after_a_refetch_is_401_invalid_token() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer).start().await.unwrap();
    let client = api(&remote, &issuer).await;
    let forged = with_kid(&issuer.token("alice"), "no-such-key");
    let reply = client.get(&forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.challenge.contains(r#"error="invalid_token""#),
        "{reply:?}"
    );
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch, then the verdict");
    // Within the cooldown the same answer comes without asking the issuer.
    assert_eq!(client.get(&forged).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn the_issuer_going_down_keeps_cached_keys_working() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer).start().await.unwrap();
    let client = api(&remote, &issuer).await;
    let token = issuer.token("alice");
    assert_eq!(client.get(&token).await.status, StatusCode::OK);
    let before = remote.key_ring().snapshot();

    issuer.stop();
    let failed = remote.refresh_now().await.unwrap_err();
    assert!(matches!(failed, Error::Transport { .. }), "{failed}");
    let status = remote.status();
    assert_eq!(status.consecutive_failures, 1);
    assert!(status.last_error.is_some());
    assert_eq!(status.keys, 1);
    assert!(same_ring(&remote.key_ring(), &before));

    // Cached keys keep verifying, fresh tokens as well as old ones.
    assert_eq!(client.get(&token).await.status, StatusCode::OK);
    assert_eq!(
        client.get(&issuer.token("bob")).await.status,
        StatusCode::OK
    );
    // A key the verifier never saw cannot be checked now: 503, not 401.
    let unknown = with_kid(&token, "rotated-while-down");
    assert_eq!(
        client.get(&unknown).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn cached_keys_stop_serving_past_the_staleness_bound() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start_with("", Arc::new(clock.clone())).await;
    issuer.behave(|b| b.cache_control = Some("max-age=120".into()));
    let remote = builder(&issuer)
        .clock(clock.clone())
        .stale_for(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let client = api(&remote, &issuer).await;
    let token = issuer.token("alice");
    assert_eq!(client.get(&token).await.status, StatusCode::OK);
    let status = remote.status();
    assert_eq!(status.fresh_for, Some(Duration::from_secs(120)));
    assert_eq!(status.serving_for, Some(Duration::from_secs(720)));

    issuer.stop();
    // Stale (past max-age) but within the bound: still served.
    clock.advance(Duration::from_secs(700));
    assert!(remote.refresh_now().await.is_err());
    assert_eq!(remote.status().keys, 1);
    assert_eq!(client.get(&token).await.status, StatusCode::OK);

    // Past max-age + stale_for with every fetch failing: no keys, 503.
    clock.advance(Duration::from_secs(21));
    assert!(remote.refresh_now().await.is_err());
    assert_eq!(remote.status().keys, 0);
    assert_eq!(remote.status().serving_for, None);
    let reply = client.get(&token).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_background_task_enforces_the_staleness_bound_by_itself() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start_with("", Arc::new(clock.clone())).await;
    let remote = builder(&issuer)
        .clock(clock.clone())
        .min_refresh(Duration::from_secs(10))
        .default_refresh(Duration::from_secs(10))
        .stale_for(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    issuer.stop();
    clock.advance(Duration::from_secs(31));
    // The task re-reads an injected clock every second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote.status().keys != 0 {
        assert!(
            Instant::now() < deadline,
            "keys still served past the bound"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(remote.status().consecutive_failures >= 1);
}

#[tokio::test]
async fn a_slow_issuer_hits_the_timeout() {
    let issuer = TestIssuer::start().await;
    issuer.behave(|b| b.delay = Duration::from_secs(3));
    let started = Instant::now();
    let failed = builder(&issuer)
        .timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::Timeout { .. }), "{failed}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // With keys cached, a slow refetch times out and the keys stay.
    issuer.behave(|b| b.delay = Duration::ZERO);
    let remote = builder(&issuer)
        .timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let before = remote.key_ring().snapshot();
    issuer.behave(|b| b.delay = Duration::from_secs(3));
    let started = Instant::now();
    let failed = remote.refresh_now().await.unwrap_err();
    assert!(matches!(failed, Error::Timeout { .. }), "{failed}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(same_ring(&remote.key_ring(), &before));
}

/// A client that never answers: the source's timeout must bound it anyway.
struct Silent;

impl HttpGet for Silent {
    fn get<'a>(&'a self, _: &'a GetRequest) -> BoxFuture<'a, Result<Response<Bytes>, HttpError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn the_timeout_bounds_any_client() {
    let started = Instant::now();
    let failed = RemoteKeys::builder(Source::jwks_url("https://idp.example/jwks"))
        .http_client(Silent)
        .timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::Timeout { .. }), "{failed}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_random_kids_over_tcp_cause_at_most_one_fetch_per_cooldown() {
    let issuer = TestIssuer::start().await;
    let cooldown = Duration::from_secs(1);
    let remote = builder(&issuer)
        .unknown_kid_cooldown(cooldown)
        .start()
        .await
        .unwrap();
    let client = api(&remote, &issuer).await;
    let token = issuer.token("mallory");

    const REQUESTS: usize = 10_000;
    const WORKERS: usize = 64;
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (client, token, next, refused) = (
            client.clone(),
            token.clone(),
            Arc::clone(&next),
            Arc::clone(&refused),
        );
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                let reply = client.get(&with_kid(&token, &random_kid())).await;
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(refused.load(Ordering::Relaxed), REQUESTS);

    // The start-up fetch, then at most one per cooldown elapsed (plus one for
    // the window the flood began in).
    let windows = usize::try_from(elapsed.as_millis() / cooldown.as_millis()).unwrap();
    let fetches = issuer.jwks_fetches();
    eprintln!("{REQUESTS} requests with random kids in {elapsed:?}: {fetches} JWKS fetches");
    assert!(
        fetches <= 1 + windows + 1,
        "{fetches} fetches in {elapsed:?} with a cooldown of {cooldown:?}"
    );
    assert!(fetches >= 2, "unknown kids do cause refetches");
    // And never two refetches within a cooldown of each other (on the server's
    // clock: slack for the requests' own travel, which varies on a busy machine).
    let times = issuer.jwks_times();
    for pair in times[1..].windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap + Duration::from_millis(300) >= cooldown,
            "two fetches {gap:?} apart"
        );
    }
    // A real token still passes, without a fetch.
    let before = issuer.jwks_fetches();
    assert_eq!(client.get(&token).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_unknown_kid_refreshes_share_one_fetch() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start_with("", Arc::new(clock.clone())).await;
    // Slow enough that the flood arrives while the fetch is in flight.
    let remote = builder(&issuer)
        .clock(clock.clone())
        .unknown_kid_cooldown(Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    issuer.behave(|b| b.delay = Duration::from_millis(300));
    let refresher = Arc::new(remote.refresher());

    for round in 1..=2 {
        clock.advance(Duration::from_secs(11)); // past the cooldown
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let refresher = Arc::clone(&refresher);
                tokio::spawn(async move { refresher.refresh(None).await })
            })
            .collect();
        for task in tasks {
            // The set did not change: every caller hears "no new keys".
            assert!(!task.await.unwrap().unwrap());
        }
        assert_eq!(issuer.jwks_fetches(), 1 + round, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_goes_away_does_not_cancel_the_shared_fetch() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer).start().await.unwrap();
    let new_kid = issuer.rotate();
    issuer.behave(|b| b.delay = Duration::from_millis(400));
    let refresher = Arc::new(remote.refresher());

    // The request that starts the fetch hangs up halfway through it.
    let first = {
        let refresher = Arc::clone(&refresher);
        tokio::spawn(async move { refresher.refresh(None).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = {
        let refresher = Arc::clone(&refresher);
        tokio::spawn(async move { refresher.refresh(None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();

    // The fetch ran to its end: the waiting request hears of the new key.
    assert!(waiting.await.unwrap().unwrap());
    assert!(remote.key_ring().load().find(&new_kid).is_some());
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_malformed_jwks_keeps_the_last_good_set() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer)
        .max_document_bytes(4096)
        .start()
        .await
        .unwrap();
    let client = api(&remote, &issuer).await;
    let token = issuer.token("alice");
    let before = remote.key_ring().snapshot();

    let enc_only = {
        let mut jwks: serde_json::Value =
            serde_json::from_str(&issuer.shared.keys.lock().unwrap().to_jwks().to_json()).unwrap();
        jwks["keys"][0]["use"] = "enc".into();
        jwks.to_string().into_bytes()
    };
    let cases: Vec<(&str, StatusCode, Vec<u8>)> = vec![
        (
            "not JSON",
            StatusCode::OK,
            b"<html>maintenance</html>".to_vec(),
        ),
        (
            "truncated",
            StatusCode::OK,
            br#"{"keys": [{"kty": "EC""#.to_vec(),
        ),
        (
            "wrong shape",
            StatusCode::OK,
            br#"{"keys": "none"}"#.to_vec(),
        ),
        (
            "no keys member",
            StatusCode::OK,
            br#"{"jwks": []}"#.to_vec(),
        ),
        ("empty set", StatusCode::OK, br#"{"keys": []}"#.to_vec()),
        ("only encryption keys", StatusCode::OK, enc_only),
        ("too large", StatusCode::OK, vec![b' '; 10_000]),
        (
            "server error",
            StatusCode::INTERNAL_SERVER_ERROR,
            b"{}".to_vec(),
        ),
    ];
    for (case, status, body) in cases {
        issuer.behave(|b| b.jwks_override = Some((status, body)));
        let failed = remote.refresh_now().await.unwrap_err();
        assert!(same_ring(&remote.key_ring(), &before), "{case}: {failed}");
        assert_eq!(client.get(&token).await.status, StatusCode::OK, "{case}");
    }

    // Fixed at the issuer: the next fetch succeeds, and the same keys are not
    // swapped in again (the layer's token cache survives).
    issuer.behave(|b| b.jwks_override = None);
    assert!(!remote.refresh_now().await.unwrap());
    assert!(same_ring(&remote.key_ring(), &before));
    assert_eq!(remote.status().consecutive_failures, 0);
}

#[tokio::test]
async fn no_keys_ever_fetched_is_503_until_a_fetch_succeeds() {
    let issuer = TestIssuer::start().await;
    issuer.behave(|b| b.jwks_override = Some((StatusCode::BAD_GATEWAY, Vec::new())));
    let remote = builder(&issuer)
        .unknown_kid_cooldown(Duration::from_secs(1))
        .spawn()
        .unwrap();
    let client = api(&remote, &issuer).await;
    let token = issuer.token("alice");
    let reply = client.get(&token).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(remote.status().keys, 0);

    // The issuer recovers: the background retry (1 s) or the next request after
    // the cooldown fetches the keys.
    issuer.behave(|b| b.jwks_override = None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client.get(&token).await.status;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn discovery_through_openid_configuration() {
    let issuer = TestIssuer::start_with("/realms/acme", Arc::new(token_core::SystemClock)).await;
    issuer.behave(|b| b.discovery = Discovery::Oidc);
    let remote = RemoteKeys::builder(Source::discovery(issuer.issuer()))
        .start()
        .await
        .unwrap();
    assert_eq!(issuer.hits(&format!("/realms/acme{OIDC}")), 1);
    assert_eq!(issuer.hits(&format!("{OAUTH}/realms/acme")), 0);
    assert_eq!(remote.status().jwks_uri, Some(issuer.jwks_url()));

    // The verifier requires the discovered issuer without being told.
    let verifier = remote.verifier().audience(AUDIENCE).build().unwrap();
    let client = ApiClient::new(serve_api(remote.layer(verifier)).await);
    assert_eq!(
        client.get(&issuer.token("alice")).await.status,
        StatusCode::OK
    );

    // Rotation works the same through a discovered jwks_uri.
    issuer.rotate();
    assert_eq!(
        client.get(&issuer.token("bob")).await.status,
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn discovery_through_oauth_authorization_server_metadata() {
    let issuer = TestIssuer::start_with("/realms/acme", Arc::new(token_core::SystemClock)).await;
    issuer.behave(|b| b.discovery = Discovery::Oauth);
    let remote = RemoteKeys::builder(Source::discovery(issuer.issuer()))
        .start()
        .await
        .unwrap();
    // OpenID Connect first (404 here), then RFC 8414 with the path inserted.
    assert_eq!(issuer.hits(&format!("/realms/acme{OIDC}")), 1);
    assert_eq!(issuer.hits(&format!("{OAUTH}/realms/acme")), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
    let verifier = remote.verifier().audience(AUDIENCE).build().unwrap();
    let client = ApiClient::new(serve_api(remote.layer(verifier)).await);
    assert_eq!(
        client.get(&issuer.token("alice")).await.status,
        StatusCode::OK
    );

    // An issuer without a path: the well-known document sits at the root.
    let root = TestIssuer::start().await;
    root.behave(|b| b.discovery = Discovery::Oauth);
    RemoteKeys::builder(Source::oauth_metadata(root.issuer()))
        .start()
        .await
        .unwrap();
    assert_eq!(root.hits(OAUTH), 1);
    assert_eq!(root.hits(OIDC), 0);
}

#[tokio::test]
async fn discovery_refuses_metadata_for_another_issuer() {
    let issuer = TestIssuer::start().await;
    issuer.behave(|b| {
        b.discovery = Discovery::Oidc;
        b.metadata_issuer = Some("https://evil.example".into());
    });
    let failed = RemoteKeys::builder(Source::oidc_discovery(issuer.issuer()))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::IssuerMismatch { .. }), "{failed}");
    assert_eq!(issuer.jwks_fetches(), 0);

    // Neither document served: both failures are reported.
    issuer.behave(|b| b.discovery = Discovery::None);
    let failed = RemoteKeys::builder(Source::discovery(issuer.issuer()))
        .start()
        .await
        .unwrap_err();
    let Error::Discovery(errors) = failed else {
        panic!("{failed}");
    };
    assert_eq!(errors.len(), 2);
}

#[tokio::test]
async fn cache_control_sets_freshness_within_the_floor_and_ceiling() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer)
        .clock(clock.clone())
        .min_refresh(Duration::from_secs(60))
        .max_refresh(Duration::from_secs(3600))
        .default_refresh(Duration::from_secs(600))
        .stale_for(Duration::from_secs(1000))
        .start()
        .await
        .unwrap();
    let cases = [
        (None, 600),
        (Some("public, max-age=900"), 900),
        (Some("max-age=900"), 900),
        (Some("max-age=5"), 60),
        (Some("no-store"), 60),
        (Some("max-age=86400"), 3600),
    ];
    for (cache_control, expected) in cases {
        issuer.behave(|b| b.cache_control = cache_control.map(str::to_owned));
        remote.refresh_now().await.unwrap();
        let status = remote.status();
        assert_eq!(
            status.fresh_for,
            Some(Duration::from_secs(expected)),
            "{cache_control:?}"
        );
        assert_eq!(
            status.serving_for,
            Some(Duration::from_secs(expected + 1000))
        );
        // Refreshed before stale: at 80 to 90 % of the freshness.
        let next = status.next_refresh.as_secs_f64();
        let expected = f64::from(u32::try_from(expected).unwrap());
        assert!(
            (0.8 * expected..=0.9 * expected).contains(&next),
            "{cache_control:?}: next refresh in {next} s"
        );
    }
}

#[tokio::test]
async fn the_background_task_refreshes_before_the_keys_go_stale() {
    let issuer = TestIssuer::start().await;
    issuer.behave(|b| b.cache_control = Some("max-age=1".into()));
    let remote = builder(&issuer)
        .min_refresh(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    // A key published (not yet signing) reaches the verifier without any request.
    let next = token_core::SigningKey::generate(token_core::Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    let next_kid = next.kid().to_owned();
    issuer
        .shared
        .keys
        .lock()
        .unwrap()
        .add_verifying_key(next.verifying_key().clone())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote.key_ring().load().find(&next_kid).is_none() {
        assert!(Instant::now() < deadline, "the new key never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(issuer.jwks_fetches() >= 2);
    assert!(remote.status().running);
}

#[tokio::test]
async fn stopping_ends_background_refresh() {
    let issuer = TestIssuer::start().await;
    issuer.behave(|b| b.cache_control = Some("max-age=1".into()));
    let remote = builder(&issuer)
        .min_refresh(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let handle = remote.handle();
    assert!(handle.is_running());
    handle.stop();
    let deadline = Instant::now() + Duration::from_secs(5);
    while handle.is_running() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fetches = issuer.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(issuer.jwks_fetches(), fetches);
    // Keys stay as they are.
    assert_eq!(remote.status().keys, 1);
}

#[tokio::test]
async fn dropping_every_handle_ends_background_refresh() {
    let issuer = TestIssuer::start().await;
    let remote = builder(&issuer).start().await.unwrap();
    let handle = remote.handle();
    let ring = remote.key_ring();
    drop(remote);
    let deadline = Instant::now() + Duration::from_secs(5);
    while handle.is_running() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The ring a verifier holds keeps the last keys.
    assert_eq!(ring.load().len(), 1);
}

#[tokio::test]
async fn plain_http_to_other_hosts_is_refused() {
    let failed = RemoteKeys::builder(Source::jwks_url("http://idp.example/jwks"))
        .spawn()
        .unwrap_err();
    assert!(matches!(failed, Error::InsecureUrl(_)), "{failed}");
    let failed = RemoteKeys::builder(Source::jwks_url("https://idp.example/jwks"))
        .min_refresh(Duration::from_secs(10))
        .max_refresh(Duration::from_secs(5))
        .spawn()
        .unwrap_err();
    assert!(matches!(failed, Error::Config(_)), "{failed}");
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let failed = RemoteKeys::builder(Source::jwks_url("https://idp.example/jwks"))
        .spawn()
        .unwrap_err();
    assert!(matches!(failed, Error::NoRuntime));
}

#[tokio::test]
async fn many_issuers_refresh_only_their_own_source() {
    use remote_keys::RefreshByIssuer;
    use tower_bearer::{BearerAuthLayer, MultiIssuer};

    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    a.behave(|x| x.discovery = Discovery::Oidc);
    b.behave(|x| x.discovery = Discovery::Oidc);
    let remote_a = RemoteKeys::builder(Source::discovery(a.issuer()))
        .start()
        .await
        .unwrap();
    let remote_b = RemoteKeys::builder(Source::discovery(b.issuer()))
        .start()
        .await
        .unwrap();
    let layer = BearerAuthLayer::builder(
        MultiIssuer::new()
            .issuer(
                a.issuer(),
                remote_a.verifier().audience(AUDIENCE).build().unwrap(),
            )
            .issuer(
                b.issuer(),
                remote_b.verifier().audience(AUDIENCE).build().unwrap(),
            ),
    )
    .on_unknown_key(RefreshByIssuer::new().issuer(&remote_a).issuer(&remote_b))
    .build();
    let client = ApiClient::new(serve_api(layer).await);
    assert_eq!(client.get(&a.token("x")).await.status, StatusCode::OK);
    assert_eq!(client.get(&b.token("y")).await.status, StatusCode::OK);

    b.rotate();
    assert_eq!(client.get(&b.token("y")).await.status, StatusCode::OK);
    assert_eq!((a.jwks_fetches(), b.jwks_fetches()), (1, 2));
}

#[tokio::test]
async fn clocks_agree_between_source_and_verifier() {
    // A source given a manual clock hands it to the verifier it builds, so a test
    // moving time moves token expiry too.
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start_with("", Arc::new(clock.clone())).await;
    let remote = builder(&issuer).clock(clock.clone()).start().await.unwrap();
    let verifier = remote
        .verifier()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let token = issuer.token("alice");
    assert!(verifier.verify(&token).is_ok());
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert!(verifier.verify(&token).is_err());
    assert!(clock.now() > 0);
}
