//! The layer over real TCP with a real HTTP client, on an axum app: every row of
//! RFC 6750 section 3, the token sources, CSRF, optional mode, custom answers,
//! epochs, revocation, the verified-token cache and issuer routing.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderName, Response, StatusCode, header};
use token_core::{
    Algorithm, BoxFuture, Claims, EpochSource, KeyRing, ManualClock, RevocationCheck,
    RevocationQuery, SigningKey, SourceError,
};
use tower_bearer::{
    BearerAuthBuilder, BearerAuthLayer, CsrfPolicy, Failure, KeyRefresh, MultiIssuer,
    RequireScopes, TokenCacheConfig, TokenSource, axum::Claims as Verified,
};

use common::{AUDIENCE, Fixture, HttpClient, ISSUER, NOW, Reply};

async fn me(Verified(claims): Verified) -> String {
    format!("hello {}", claims.sub.unwrap_or_default())
}

async fn whoami(claims: Option<Verified>) -> String {
    match claims {
        Some(Verified(claims)) => format!("user {}", claims.sub.unwrap_or_default()),
        None => "anonymous".to_owned(),
    }
}

fn app(layer: BearerAuthLayer) -> Router {
    Router::new()
        .route("/me", get(me).post(me))
        .route(
            "/reports",
            get(me).route_layer(RequireScopes::all(["reports:read"])),
        )
        .route(
            "/audit",
            get(me).route_layer(RequireScopes::any(["admin", "audit"])),
        )
        .route("/whoami", get(whoami))
        .layer(layer)
}

async fn start(builder: BearerAuthBuilder<token_core::NoExtra>) -> HttpClient {
    HttpClient::new(common::serve(app(builder.realm("test").build())).await)
}

fn assert_invalid_token(reply: &Reply, description: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(
        reply.challenge(),
        format!(r#"Bearer realm="test", error="invalid_token", error_description="{description}""#)
    );
    assert_eq!(
        reply.body,
        format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#)
    );
}

#[tokio::test]
async fn rfc6750_missing_credentials_get_a_bare_challenge() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let reply = client.get("/me").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), r#"Bearer realm="test""#);
    assert_eq!(reply.body, "", "no error information without credentials");
    // Another scheme is not bearer credentials: still "missing".
    let basic = client
        .send(
            client
                .request("GET", "/me")
                .header("authorization", "Basic dTpw"),
        )
        .await;
    assert_eq!(basic.challenge(), r#"Bearer realm="test""#);
}

#[tokio::test]
async fn rfc6750_valid_token_passes_with_any_scheme_case_and_spacing() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let token = fx.token("alice", "");
    for scheme in ["Bearer ", "bearer ", "BEARER    "] {
        let reply = client
            .send(
                client
                    .request("GET", "/me")
                    .header("authorization", format!("{scheme}{token}")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme:?}");
        assert_eq!(reply.body, "hello alice");
    }
}

#[tokio::test]
async fn rfc6750_malformed_requests_and_tokens() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    for bad in ["Bearer", "Bearer a b", "Bearer \"quoted\""] {
        let reply = client
            .send(client.request("GET", "/me").header("authorization", bad))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            reply.challenge(),
            r#"Bearer realm="test", error="invalid_request", error_description="bearer credentials are malformed""#
        );
    }
    // Well-formed credentials that are not a JWS: an invalid token.
    let reply = client.get_with_token("/me", "not-a-jwt").await;
    assert_invalid_token(&reply, "token is malformed (not three segments)");
}

#[tokio::test]
async fn rfc6750_duplicate_credentials_are_invalid_requests() {
    let fx = Fixture::new(Algorithm::HS256);
    let layer = BearerAuthLayer::builder(fx.verifier.clone())
        .sources([TokenSource::authorization(), TokenSource::cookie("at")]);
    let client = start(layer).await;
    let token = fx.token("alice", "");
    let two_headers = client
        .request("GET", "/me")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"));
    let reply = client.send(two_headers).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.challenge().contains(r#"error="invalid_request""#));
    assert!(
        reply
            .challenge()
            .contains("credentials were sent more than once")
    );

    let header_and_cookie = client
        .request("GET", "/me")
        .header("authorization", format!("Bearer {token}"))
        .header("cookie", format!("at={token}"));
    let reply = client.send(header_and_cookie).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .challenge()
            .contains("credentials were sent in more than one place")
    );
}

#[tokio::test]
async fn rfc6750_expired_wrong_audience_wrong_issuer_bad_signature() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;

    let wrong_aud = fx.mint(Claims::for_subject("a").with_audience("other-api"));
    assert_invalid_token(
        &client.get_with_token("/me", &wrong_aud).await,
        "audience is not accepted",
    );

    let mut claims = Claims::for_subject("a");
    claims.iss = Some("https://evil.test".into());
    let wrong_iss = fx.mint(claims);
    assert_invalid_token(
        &client.get_with_token("/me", &wrong_iss).await,
        "issuer is not accepted",
    );

    let token = fx.token("a", "");
    let (signed, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", "A".repeat(43));
    assert_invalid_token(
        &client.get_with_token("/me", &forged).await,
        "signature is invalid",
    );

    fx.clock.advance(Duration::from_secs(600));
    assert_invalid_token(
        &client.get_with_token("/me", &token).await,
        "token has expired",
    );
}

#[tokio::test]
async fn rfc6750_insufficient_scope_is_403_naming_the_scope() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let reply = client
        .get_with_token("/reports", &fx.token("bob", "me:read"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenge(),
        r#"Bearer realm="test", error="insufficient_scope", error_description="token lacks the required scope", scope="reports:read""#
    );
    let ok = client
        .get_with_token("/reports", &fx.token("bob", "me:read reports:read"))
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let any = client
        .get_with_token("/audit", &fx.token("eve", "audit"))
        .await;
    assert_eq!(any.status, StatusCode::OK);
    let none = client.get_with_token("/audit", &fx.token("eve", "x")).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(none.challenge().ends_with(r#"scope="admin audit""#));
}

#[tokio::test]
async fn cookie_and_custom_header_and_query_sources() {
    let fx = Fixture::new(Algorithm::HS256);
    let layer = BearerAuthLayer::builder(fx.verifier.clone())
        .sources([
            TokenSource::cookie("access_token"),
            TokenSource::header(HeaderName::from_static("x-api-token")),
        ])
        .query_parameter(true);
    let client = start(layer).await;
    let token = fx.token("carol", "");
    let by_cookie = client
        .request("GET", "/me")
        .header("cookie", format!("theme=dark; access_token={token}"));
    assert_eq!(client.send(by_cookie).await.body, "hello carol");
    let by_header = client.request("GET", "/me").header("x-api-token", &token);
    assert_eq!(client.send(by_header).await.body, "hello carol");
    let by_query = client.get(&format!("/me?access_token={token}")).await;
    assert_eq!(by_query.body, "hello carol");
    // Not configured: Authorization is not looked at.
    let reply = client.get_with_token("/me", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Without the switch, the query parameter is ignored.
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let reply = client.get(&format!("/me?access_token={token}")).await;
    assert_eq!(reply.challenge(), r#"Bearer realm="test""#);
}

#[tokio::test]
async fn csrf_allows_listed_origins_and_the_custom_header_only() {
    let fx = Fixture::new(Algorithm::HS256);
    let layer = BearerAuthLayer::builder(fx.verifier.clone())
        .sources([TokenSource::authorization(), TokenSource::cookie("at")])
        .csrf(
            CsrfPolicy::new()
                .allow_origin("https://app.test")
                .require_header(HeaderName::from_static("x-csrf")),
        );
    let client = start(layer).await;
    let token = fx.token("dave", "");
    let cookie = format!("at={token}");
    let post = || client.request("POST", "/me").header("cookie", &cookie);

    let refused = client.send(post()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body,
        r#"{"error":"csrf_check_failed","error_description":"cross-site request refused"}"#
    );
    let evil = client
        .send(post().header("origin", "https://evil.test"))
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);

    let allowed = client
        .send(post().header("origin", "https://app.test"))
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let by_referer = client
        .send(post().header("referer", "https://app.test/form"))
        .await;
    assert_eq!(by_referer.status, StatusCode::OK);
    let by_header = client.send(post().header("x-csrf", "1")).await;
    assert_eq!(by_header.status, StatusCode::OK);

    // Safe methods and header-borne tokens need no check.
    let get = client.request("GET", "/me").header("cookie", &cookie);
    assert_eq!(client.send(get).await.status, StatusCode::OK);
    let header_post = client
        .request("POST", "/me")
        .header("authorization", format!("Bearer {token}"))
        .header("origin", "https://evil.test");
    assert_eq!(client.send(header_post).await.status, StatusCode::OK);
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_but_not_bad_tokens() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone()).optional()).await;
    let anonymous = client.get("/whoami").await;
    assert_eq!(
        (anonymous.status, anonymous.body.as_str()),
        (StatusCode::OK, "anonymous")
    );
    let user = client
        .get_with_token("/whoami", &fx.token("erin", ""))
        .await;
    assert_eq!(user.body, "user erin");
    let bad = client.get_with_token("/whoami", "a.b.c").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.challenge().contains(r#"error="invalid_token""#));
    // Handlers and guards that need a token answer like the layer.
    let me = client.get("/me").await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.challenge(), r#"Bearer realm="test""#);
    let reports = client.get("/reports").await;
    assert_eq!(reports.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reports.challenge(), r#"Bearer realm="test""#);
}

#[tokio::test]
async fn custom_responder_replaces_body_and_headers() {
    let fx = Fixture::new(Algorithm::HS256);
    let layer = BearerAuthLayer::builder(fx.verifier.clone()).responder(
        |failure: &Failure<'_>, mut answer: Response<Bytes>| {
            *answer.body_mut() = Bytes::from(format!("denied: {}", failure.error().reason()));
            answer
                .headers_mut()
                .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
            answer
                .headers_mut()
                .insert("x-denied", "1".parse().unwrap());
            answer
        },
    );
    let client = start(layer).await;
    let missing = client.get("/me").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body, "denied: missing");
    assert_eq!(missing.header("x-denied"), Some("1"));
    assert_eq!(missing.challenge(), r#"Bearer realm="test""#);
    let scope = client.get_with_token("/reports", &fx.token("f", "")).await;
    assert_eq!(scope.status, StatusCode::FORBIDDEN);
    assert_eq!(scope.body, "denied: insufficient_scope");
    assert_eq!(scope.header("content-type"), Some("text/plain"));
}

#[tokio::test]
async fn grpc_requests_get_trailers_only_answers_and_preflights_pass() {
    let fx = Fixture::new(Algorithm::HS256);
    let client =
        start(BearerAuthLayer::builder(fx.verifier.clone()).allow_cors_preflight(true)).await;
    let grpc = client
        .request("POST", "/me")
        .header("content-type", "application/grpc+proto");
    let reply = client.send(grpc).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("grpc-status"), Some("16"));
    assert_eq!(
        reply.header("grpc-message"),
        Some("no credentials were sent")
    );

    let preflight = client
        .request("OPTIONS", "/me")
        .header("origin", "https://app.test")
        .header("access-control-request-method", "POST");
    assert_ne!(
        client.send(preflight).await.status,
        StatusCode::UNAUTHORIZED
    );
    let plain_options = client.request("OPTIONS", "/me");
    assert_eq!(
        client.send(plain_options).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A store of token versions the test can bump, counting how often it is asked.
#[derive(Clone, Default)]
struct Versions {
    current: Arc<Mutex<HashMap<String, u64>>>,
    asked: Arc<Mutex<usize>>,
    down: Arc<Mutex<bool>>,
}

impl EpochSource for Versions {
    fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>> {
        *self.asked.lock().unwrap() += 1;
        let answer = if *self.down.lock().unwrap() {
            Err(SourceError::msg("store unreachable"))
        } else {
            Ok(self
                .current
                .lock()
                .unwrap()
                .get(subject)
                .copied()
                .unwrap_or(0))
        };
        Box::pin(async move {
            tokio::task::yield_now().await; // a real await, as a store would
            answer
        })
    }
}

#[tokio::test]
async fn epoch_bump_rejects_older_tokens_within_the_cache_bound() {
    let fx = Fixture::new(Algorithm::HS256);
    let versions = Versions::default();
    versions.current.lock().unwrap().insert("gina".into(), 1);
    let layer = BearerAuthLayer::builder(fx.verifier.clone())
        .epoch_source(versions.clone())
        .status_ttl(Duration::from_secs(5));
    let client = start(layer).await;
    let v1 = fx.mint(Claims::for_subject("gina").with_version(1));
    assert_eq!(
        client.get_with_token("/me", &v1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.get_with_token("/me", &v1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        *versions.asked.lock().unwrap(),
        1,
        "second answer came from the cache"
    );

    // Password reset: version 2. Seen once the cached answer runs out.
    versions.current.lock().unwrap().insert("gina".into(), 2);
    fx.clock.advance(Duration::from_secs(5));
    assert_invalid_token(
        &client.get_with_token("/me", &v1).await,
        "token has been superseded",
    );
    let v2 = fx.mint(Claims::for_subject("gina").with_version(2));
    assert_eq!(
        client.get_with_token("/me", &v2).await.status,
        StatusCode::OK
    );
    // A token without `ver` counts as version 0.
    let unversioned = fx.token("gina", "");
    assert_eq!(
        client.get_with_token("/me", &unversioned).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_failing_source_fails_closed_with_503() {
    let fx = Fixture::new(Algorithm::HS256);
    let versions = Versions::default();
    *versions.down.lock().unwrap() = true;
    let client = start(BearerAuthLayer::builder(fx.verifier.clone()).epoch_source(versions)).await;
    let reply = client.get_with_token("/me", &fx.token("h", "")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.body,
        r#"{"error":"temporarily_unavailable","error_description":"token status could not be checked"}"#
    );
    assert!(!reply.body.contains("unreachable"));
    assert_eq!(reply.header("retry-after"), Some("1"));
}

#[derive(Clone, Default)]
struct Revoked(Arc<Mutex<HashSet<String>>>);

impl RevocationCheck for Revoked {
    fn is_revoked<'a>(
        &'a self,
        query: RevocationQuery<'a>,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        let set = self.0.lock().unwrap();
        let revoked = query.jti.is_some_and(|j| set.contains(j))
            || query.sid.is_some_and(|s| set.contains(s));
        Box::pin(async move { Ok(revoked) })
    }
}

#[tokio::test]
async fn revoked_tokens_and_sessions_are_invalid() {
    let fx = Fixture::new(Algorithm::HS256);
    let revoked = Revoked::default();
    let layer = BearerAuthLayer::builder(fx.verifier.clone())
        .revocation_check(revoked.clone())
        .status_ttl(Duration::ZERO);
    let client = start(layer).await;
    let minted = fx
        .minter
        .mint(Claims::for_subject("ivan").with_session("family-1"))
        .unwrap();
    let jti = minted.claims.jti.clone().unwrap();
    assert_eq!(
        client.get_with_token("/me", &minted.token).await.status,
        StatusCode::OK
    );
    revoked.0.lock().unwrap().insert(jti.to_string());
    assert_invalid_token(
        &client.get_with_token("/me", &minted.token).await,
        "token has been revoked",
    );
    let other = fx.mint(Claims::for_subject("ivan").with_session("family-2"));
    assert_eq!(
        client.get_with_token("/me", &other).await.status,
        StatusCode::OK
    );
    revoked.0.lock().unwrap().insert("family-2".into());
    assert_eq!(
        client.get_with_token("/me", &other).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cache_hit_after_key_removal_still_rejected_when_expired() {
    let fx = Fixture::new(Algorithm::ES256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let token = fx.token("judy", "");
    assert_eq!(
        client.get_with_token("/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.get_with_token("/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(fx.verifications(), 1, "the second request was a cache hit");

    // A hit re-checks the clock: past `exp`, the cached token is refused.
    fx.clock.advance(Duration::from_secs(600));
    assert_invalid_token(
        &client.get_with_token("/me", &token).await,
        "token has expired",
    );
    assert_eq!(
        fx.verifications(),
        1,
        "refused from the cache, not re-verified"
    );

    // Removing the key refuses its tokens at once, cached or not.
    fx.clock.set(NOW);
    let fresh = fx.token("judy", "");
    assert_eq!(
        client.get_with_token("/me", &fresh).await.status,
        StatusCode::OK
    );
    let kid = fx.ring.load().iter().next().unwrap().kid().to_owned();
    fx.ring
        .update(|ring| {
            ring.remove(&kid);
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_invalid_token(
        &client.get_with_token("/me", &fresh).await,
        "signing key is unknown",
    );
    fx.clock.advance(Duration::from_secs(600));
    assert_eq!(
        client.get_with_token("/me", &fresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn hmac_caching_can_be_turned_off_and_garbage_is_never_cached() {
    let fx = Fixture::new(Algorithm::HS256);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone())).await;
    let token = fx.token("kim", "");
    client.get_with_token("/me", &token).await;
    client.get_with_token("/me", &token).await;
    assert_eq!(fx.verifications(), 1, "the second HS256 request was a hit");

    // Unless HMAC tokens are left out of the cache.
    let config = TokenCacheConfig::default().include_symmetric(false);
    let client = start(BearerAuthLayer::builder(fx.verifier.clone()).token_cache(config)).await;
    client.get_with_token("/me", &token).await;
    client.get_with_token("/me", &token).await;
    assert_eq!(fx.verifications(), 3, "HS256 is verified every time");

    let es = Fixture::new(Algorithm::ES256);
    let client = start(BearerAuthLayer::builder(es.verifier.clone())).await;
    let token = es.token("kim", "");
    let (signed, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", "A".repeat(86));
    for _ in 0..2 {
        let reply = client.get_with_token("/me", &forged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        es.verifications(),
        0,
        "a bad signature never reaches the claims"
    );
}

#[tokio::test]
async fn several_issuers_are_routed_by_iss_never_tried_in_turn() {
    let clock = ManualClock::new(NOW);
    let a = Fixture::for_issuer(Algorithm::ES256, "https://a.test", clock.clone());
    let b = Fixture::for_issuer(Algorithm::EdDSA, "https://b.test", clock.clone());
    let issuers = MultiIssuer::new()
        .issuer("https://a.test", a.verifier.clone())
        .issuer("https://b.test", b.verifier.clone());
    let client = start(BearerAuthLayer::builder(issuers).no_token_cache()).await;

    assert_eq!(
        client
            .get_with_token("/me", &a.token("from-a", ""))
            .await
            .body,
        "hello from-a"
    );
    assert_eq!(
        client
            .get_with_token("/me", &b.token("from-b", ""))
            .await
            .body,
        "hello from-b"
    );
    assert_eq!((a.verifications(), b.verifications()), (1, 1));

    // A token signed by A's key that claims to come from B goes to B only, whose
    // keys do not know it.
    let mut claims = Claims::for_subject("mallory");
    claims.iss = Some("https://b.test".into());
    let lying = a.mint(claims);
    assert_invalid_token(
        &client.get_with_token("/me", &lying).await,
        "signing key is unknown",
    );
    let mut claims = Claims::for_subject("mallory");
    claims.iss = Some("https://c.test".into());
    assert_invalid_token(
        &client.get_with_token("/me", &a.mint(claims)).await,
        "issuer is not accepted",
    );
    assert_eq!((a.verifications(), b.verifications()), (1, 1));
}

/// Adds a key to a shared ring when asked, as a remote key source would.
struct AddKeyOnRefresh {
    ring: token_core::SharedKeyRing,
    key: Mutex<Option<token_core::VerifyingKey>>,
}

impl KeyRefresh for AddKeyOnRefresh {
    fn refresh<'a>(&'a self, _issuer: Option<&'a str>) -> BoxFuture<'a, Result<bool, SourceError>> {
        let key = self.key.lock().unwrap().take();
        let changed = key.is_some_and(|key| {
            self.ring
                .update(|r| r.add_verifying_key(key.clone()))
                .is_ok()
        });
        Box::pin(async move { Ok(changed) })
    }
}

#[tokio::test]
async fn unknown_kid_asks_the_refresh_hook_then_verifies_once_more() {
    let fx = Fixture::new(Algorithm::ES256);
    let next = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .into_signing_key();
    let next_public = next.verifying_key().clone();
    let next_minter = token_core::Minter::builder(KeyRing::with_signing_key(next))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(fx.clock.clone())
        .build()
        .unwrap();
    let hook = AddKeyOnRefresh {
        ring: fx.ring.clone(),
        key: Mutex::new(Some(next_public)),
    };
    let layer = BearerAuthLayer::builder(fx.verifier.clone()).on_unknown_key(hook);
    let client = start(layer).await;
    let token = next_minter
        .mint(Claims::for_subject("new-key"))
        .unwrap()
        .token;
    assert_eq!(
        client.get_with_token("/me", &token).await.body,
        "hello new-key"
    );
    // The hook has nothing more to add: an unknown key stays unknown.
    let stranger = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .into_signing_key();
    let stranger = token_core::Minter::builder(KeyRing::with_signing_key(stranger))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(fx.clock.clone())
        .build()
        .unwrap();
    let token = stranger.mint(Claims::for_subject("x")).unwrap().token;
    assert_invalid_token(
        &client.get_with_token("/me", &token).await,
        "signing key is unknown",
    );
}
