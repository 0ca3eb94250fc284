//! End-to-end flows over real TCP with a real HTTP client: login, use, refresh and
//! logout for both transports, client credentials, introspection, revocation, the
//! device list, the JWKS, epochs, scopes and expiry.

mod common;

use std::time::Duration;

use common::{Env, ORIGIN};
use http::Method;
use issuer::{AuditKind, RequestMeta};
use serde_json::json;
use token_core::{EpochSource, Scopes, Verifier};

#[tokio::test]
async fn body_transport_login_use_refresh_logout() {
    let env = Env::start().await.with_alice().await;
    let login = env.login_cli("a").await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("pragma"), Some("no-cache"));
    assert!(
        login.set_cookies().is_empty(),
        "body transport sets no cookie"
    );
    let body = login.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "a");
    let access = login.field("access_token");
    let refresh = login.field("refresh_token");
    assert!(refresh.starts_with("rt1."));

    // Use: the access token opens the device list.
    let bearer = format!("Bearer {access}");
    let sessions = env
        .request(
            Method::GET,
            "/auth/sessions",
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(sessions.status, 200, "{}", sessions.text());
    let list = sessions.json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(list["sessions"][0]["current"], true);
    assert_eq!(list["sessions"][0]["ip"], "127.0.0.1");
    assert_eq!(list["sessions"][0]["user_agent"], "test-cli/1.0");

    // Refresh rotates.
    let next = env.refresh_body(&refresh).await;
    assert_eq!(next.status, 200, "{}", next.text());
    let rotated = next.field("refresh_token");
    assert_ne!(rotated, refresh);
    assert_eq!(next.field("scope"), "a");

    // The RFC 6749 section 6 form at /token works as well, for the client the
    // family was issued to.
    let form = env
        .form(
            "/auth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rotated),
                ("client_id", "cli"),
                ("scope", "a"),
            ],
            &[],
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.text());
    let rotated = form.field("refresh_token");

    // Logout: 204, and the session is over for both of its tokens.
    let out = env
        .json("/auth/logout", &json!({ "refresh_token": rotated }), &[])
        .await;
    assert_eq!(out.status, 204);
    env.refresh_body(&rotated)
        .await
        .assert_error(400, "invalid_grant");
    let after = env
        .request(
            Method::GET,
            "/auth/sessions",
            &[("authorization", &bearer)],
            "",
        )
        .await;
    after.assert_error(401, "invalid_token");
    // Logout is idempotent.
    let again = env
        .json("/auth/logout", &json!({ "refresh_token": rotated }), &[])
        .await;
    assert_eq!(again.status, 204);
}

#[tokio::test]
async fn cookie_transport_login_refresh_logout() {
    let env = Env::with(|b| b.absolute_ttl(Duration::from_secs(86_400)))
        .await
        .with_alice()
        .await;
    let login = env
        .form(
            "/auth/token",
            &[("username", "alice"), ("password", "correct horse")],
            &[],
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(
        login.json().get("refresh_token").is_none(),
        "cookie transport keeps it out of the body"
    );
    assert_eq!(
        login.field("scope"),
        "",
        "no default scopes: the empty grant is echoed"
    );
    let cookies = login.set_cookies();
    assert_eq!(cookies.len(), 1);
    let token = login.refresh_cookie().unwrap();
    assert_eq!(
        cookies[0],
        format!(
            "__Secure-refresh_token={token}; Max-Age=86400; Path=/auth; HttpOnly; Secure; SameSite=Strict"
        )
    );

    let cookie = format!("__Secure-refresh_token={token}");
    // Cookie-borne refreshes must come from an allowed origin.
    let no_origin = env
        .request(Method::POST, "/auth/refresh", &[("cookie", &cookie)], "")
        .await;
    no_origin.assert_error(403, "invalid_request");
    assert!(!no_origin.clears_cookie());
    let evil = env
        .request(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &cookie), ("origin", "https://evil.example")],
            "",
        )
        .await;
    evil.assert_error(403, "invalid_request");

    env.advance(100);
    let next = env
        .request(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &cookie), ("origin", ORIGIN)],
            "",
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.text());
    let rotated = next.refresh_cookie().unwrap();
    assert_ne!(rotated, token);
    assert!(
        next.set_cookies()[0].contains("Max-Age=86300;"),
        "Max-Age is the family's remaining absolute lifetime: {:?}",
        next.set_cookies()
    );

    // A second tab with the old cookie, within the grace interval: the same current
    // token again, and the cookie is not cleared.
    let tab = env
        .request(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &cookie), ("origin", ORIGIN)],
            "",
        )
        .await;
    assert_eq!(tab.status, 200);
    assert_eq!(tab.refresh_cookie().as_deref(), Some(rotated.as_str()));
    assert!(!tab.clears_cookie());

    let rotated_cookie = format!("__Secure-refresh_token={rotated}");
    let no_origin_logout = env
        .request(
            Method::POST,
            "/auth/logout",
            &[("cookie", &rotated_cookie)],
            "",
        )
        .await;
    no_origin_logout.assert_error(403, "invalid_request");
    let out = env
        .request(
            Method::POST,
            "/auth/logout",
            &[("cookie", &rotated_cookie), ("origin", ORIGIN)],
            "",
        )
        .await;
    assert_eq!(out.status, 204);
    assert!(out.clears_cookie(), "{:?}", out.set_cookies());
    let dead = env
        .request(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &rotated_cookie), ("origin", ORIGIN)],
            "",
        )
        .await;
    dead.assert_error(400, "invalid_grant");
    assert!(dead.clears_cookie(), "a dead family's cookie is cleared");
}

#[tokio::test]
async fn per_client_transport_and_dev_cookies() {
    let env = Env::with(|b| {
        b.insecure_dev_cookies(true)
            .transport(issuer::RefreshTransport::Body)
    })
    .await
    .with_alice()
    .await;
    // No client: the issuer's default (body here).
    let plain = env
        .form(
            "/auth/token",
            &[("username", "alice"), ("password", "correct horse")],
            &[],
        )
        .await;
    assert!(plain.json()["refresh_token"].is_string());
    // The `spa` client is registered for cookies; dev mode drops Secure and the prefix.
    let spa = env
        .form(
            "/auth/token",
            &[
                ("username", "alice"),
                ("password", "correct horse"),
                ("client_id", "spa"),
            ],
            &[],
        )
        .await;
    let cookie = &spa.set_cookies()[0];
    assert!(cookie.starts_with("refresh_token=rt1."), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    // Unknown clients are refused.
    env.form(
        "/auth/token",
        &[
            ("username", "alice"),
            ("password", "correct horse"),
            ("client_id", "nope"),
        ],
        &[],
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn client_credentials_grant() {
    let env = Env::start().await;
    let (_, secret) = env
        .issuer
        .add_confidential_client("reporting", "svc:read svc:write".parse().unwrap())
        .await
        .unwrap();
    let basic = format!("Basic {}", b64(&format!("reporting:{}", secret.expose())));
    let ok = env
        .form(
            "/auth/token",
            &[("grant_type", "client_credentials"), ("scope", "svc:read")],
            &[("authorization", &basic)],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.field("scope"), "svc:read");
    assert!(
        ok.json().get("refresh_token").is_none(),
        "no refresh token for services"
    );
    assert!(ok.set_cookies().is_empty());
    let claims = env
        .issuer
        .verifier()
        .verify(&ok.field("access_token"))
        .unwrap();
    assert_eq!(claims.sub.as_deref(), Some("reporting"));
    assert_eq!(claims.client_id.as_deref(), Some("reporting"));

    // Secret in the form; no scope asked: the whole ceiling.
    let form = env
        .form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "reporting"),
                ("client_secret", secret.expose()),
            ],
            &[],
        )
        .await;
    assert_eq!(form.field("scope"), "svc:read svc:write");

    env.form(
        "/auth/token",
        &[("grant_type", "client_credentials"), ("scope", "svc:admin")],
        &[("authorization", &basic)],
    )
    .await
    .assert_error(400, "invalid_scope");
    for auth in [
        format!("Basic {}", b64("reporting:wrong")),
        format!("Basic {}", b64("ghost:whatever")),
    ] {
        let r = env
            .form(
                "/auth/token",
                &[("grant_type", "client_credentials")],
                &[("authorization", &auth)],
            )
            .await;
        r.assert_error(401, "invalid_client");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"issuer\""));
    }
    env.form("/auth/token", &[("grant_type", "client_credentials")], &[])
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn introspection_and_revocation() {
    let env = Env::start().await.with_alice().await;
    let (_, secret) = env
        .issuer
        .add_confidential_client("gateway", Scopes::empty())
        .await
        .unwrap();
    let basic = format!("Basic {}", b64(&format!("gateway:{}", secret.expose())));
    let login = env.login_cli("a b").await;
    let access = login.field("access_token");
    let refresh = login.field("refresh_token");

    let introspect = |token: String| {
        let basic = basic.clone();
        let env = &env;
        async move {
            env.form(
                "/auth/introspect",
                &[("token", &token)],
                &[("authorization", &basic)],
            )
            .await
            .json()
        }
    };
    let info = introspect(access.clone()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["scope"], "a b");
    assert_eq!(info["token_type"], "Bearer");
    let user = env.issuer.find_user("alice").await.unwrap().unwrap();
    assert_eq!(info["sub"], user.id);
    let info = introspect(refresh.clone()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(
        introspect("garbage".into()).await,
        json!({ "active": false })
    );

    // Introspection needs an authenticated client.
    let anonymous = env
        .form("/auth/introspect", &[("token", &access)], &[])
        .await;
    anonymous.assert_error(401, "invalid_client");
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"issuer\"")
    );

    // RFC 7009: the access token first, then the refresh token.
    let r = env
        .form(
            "/auth/revoke",
            &[("token", &access), ("token_type_hint", "access_token")],
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(access.clone()).await["active"], false);
    assert_eq!(
        introspect(refresh.clone()).await["active"],
        true,
        "the session itself lives on"
    );
    let r = env.form("/auth/revoke", &[("token", &refresh)], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(refresh.clone()).await["active"], false);
    env.refresh_body(&refresh)
        .await
        .assert_error(400, "invalid_grant");
    // Unknown tokens are fine; bad client credentials are not.
    assert_eq!(
        env.form("/auth/revoke", &[("token", "whatever")], &[])
            .await
            .status,
        200
    );
    env.form(
        "/auth/revoke",
        &[("token", "whatever")],
        &[("authorization", &format!("Basic {}", b64("gateway:wrong")))],
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn sessions_list_and_delete() {
    let env = Env::start().await.with_alice().await;
    let phone = env.login_cli("a").await;
    let laptop = env.login_cli("a").await;
    let bearer = format!("Bearer {}", laptop.field("access_token"));
    let list = env
        .request(
            Method::GET,
            "/auth/sessions",
            &[("authorization", &bearer)],
            "",
        )
        .await
        .json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let gone = env
        .request(
            Method::DELETE,
            &format!("/auth/sessions/{other}"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(gone.status, 204);
    env.refresh_body(&phone.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    let list = env
        .request(
            Method::GET,
            "/auth/sessions",
            &[("authorization", &bearer)],
            "",
        )
        .await
        .json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    env.request(
        Method::DELETE,
        "/auth/sessions/unknown",
        &[("authorization", &bearer)],
        "",
    )
    .await
    .assert_error(404, "not_found");
    let anonymous = env.request(Method::GET, "/auth/sessions", &[], "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn jwks_publishes_next_key_and_rotation_retires_old_keys() {
    let env = Env::start().await.with_alice().await;
    let jwks = env
        .request(Method::GET, "/auth/.well-known/jwks.json", &[], "")
        .await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(
        jwks.json()["keys"].as_array().unwrap().len(),
        2,
        "active and next"
    );

    let before = env.login_cli("a").await.field("access_token");
    let rotated = env.issuer.rotate_keys().await.unwrap();
    let after = env.login_cli("a").await.field("access_token");
    let keys = env
        .request(Method::GET, "/auth/.well-known/jwks.json", &[], "")
        .await
        .json();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        3,
        "active, next and retired"
    );
    // Tokens of the retired key still verify, from the published keys alone.
    let published = token_core::JwkSet::from_json(keys.to_string().as_bytes()).unwrap();
    let (ring, skipped) = token_core::KeyRing::from_jwks(&published);
    assert!(skipped.is_empty());
    let outside = Verifier::builder(ring)
        .clock(env.clock.clone())
        .build()
        .unwrap();
    assert!(outside.verify(&before).is_ok());
    assert!(outside.verify(&after).is_ok());
    assert!(env.audit.of_kind(AuditKind::KeyRotated).len() == 1);

    env.advance(900 + 61);
    assert_eq!(
        env.issuer.prune_retired_keys(),
        vec![rotated.retired.unwrap()]
    );
    let keys = env
        .request(Method::GET, "/auth/.well-known/jwks.json", &[], "")
        .await
        .json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn logout_scopes_local_others_global() {
    let env = Env::start().await.with_alice().await;
    let a = env.login_cli("a").await;
    let b = env.login_cli("a").await;
    let c = env.login_cli("a").await;
    let (a_rt, b_rt, c_rt) = (
        a.field("refresh_token"),
        b.field("refresh_token"),
        c.field("refresh_token"),
    );

    let others = env
        .form(
            "/auth/logout",
            &[("refresh_token", &a_rt), ("scope", "others")],
            &[],
        )
        .await;
    assert_eq!(others.status, 204);
    assert!(!others.clears_cookie(), "the caller's session goes on");
    env.refresh_body(&b_rt)
        .await
        .assert_error(400, "invalid_grant");
    env.refresh_body(&c_rt)
        .await
        .assert_error(400, "invalid_grant");
    let a2 = env.refresh_body(&a_rt).await;
    assert_eq!(a2.status, 200);

    // Global also kills every access token already out (the epoch moves).
    let d = env.login_cli("a").await;
    let d_access = d.field("access_token");
    assert!(env.issuer.check_access_token(&d_access).await.is_ok());
    let global = env
        .form(
            "/auth/logout",
            &[
                ("refresh_token", &a2.field("refresh_token")),
                ("scope", "global"),
            ],
            &[],
        )
        .await;
    assert_eq!(global.status, 204);
    assert!(env.issuer.check_access_token(&d_access).await.is_err());
    env.refresh_body(&d.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    env.form(
        "/auth/logout",
        &[("refresh_token", &a_rt), ("scope", "everything")],
        &[],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn epoch_bump_kills_old_access_and_refresh_tokens() {
    let env = Env::start().await.with_alice().await;
    let login = env.login_cli("a").await;
    let user = env.issuer.find_user("alice").await.unwrap().unwrap();
    let epochs = env.issuer.epoch_source();
    let verifier = env.issuer.verifier();

    // What a verifying layer does: signature first, then `ver` against the epoch.
    let old = verifier.verify(&login.field("access_token")).unwrap();
    assert_eq!(
        old.ver,
        Some(epochs.current_version(&user.id).await.unwrap())
    );

    let bumped = env.issuer.bump_token_version(&user.id).await.unwrap();
    assert_eq!(bumped, 1);
    let current = epochs.current_version(&user.id).await.unwrap();
    assert!(
        old.ver.unwrap() < current,
        "the old token is now below the epoch"
    );
    assert!(
        env.issuer
            .check_access_token(&login.field("access_token"))
            .await
            .is_err()
    );
    env.refresh_body(&login.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");

    let fresh = verifier
        .verify(&env.login_cli("a").await.field("access_token"))
        .unwrap();
    assert_eq!(fresh.ver, Some(current), "new tokens carry the new epoch");
    assert_eq!(env.audit.of_kind(AuditKind::VersionBumped).len(), 1);
}

#[tokio::test]
async fn password_change_keeps_the_callers_session_if_asked() {
    let env = Env::start().await.with_alice().await;
    let mine = env.login_cli("a").await;
    let theirs = env.login_cli("a").await;
    let user = env.issuer.find_user("alice").await.unwrap().unwrap();
    let my_sid = env
        .issuer
        .verifier()
        .verify(&mine.field("access_token"))
        .unwrap()
        .sid
        .unwrap();

    let version = env
        .issuer
        .set_password(&user.id, "new battery staple", Some(&my_sid))
        .await
        .unwrap();
    env.refresh_body(&theirs.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    let kept = env.refresh_body(&mine.field("refresh_token")).await;
    assert_eq!(kept.status, 200, "{}", kept.text());
    let claims = env
        .issuer
        .verifier()
        .verify(&kept.field("access_token"))
        .unwrap();
    assert_eq!(
        claims.ver,
        Some(version),
        "the kept session refreshes into the new epoch"
    );
    // The old password is gone, the new one works.
    env.form(
        "/auth/token",
        &[("username", "alice"), ("password", "correct horse")],
        &[],
    )
    .await
    .assert_error(400, "invalid_grant");
    let new = env
        .form(
            "/auth/token",
            &[("username", "alice"), ("password", "new battery staple")],
            &[],
        )
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn tightening_grantable_scopes_drops_the_scope_at_the_next_refresh() {
    let env = Env::start().await.with_alice().await;
    let login = env.login_cli("a b").await;
    assert_eq!(login.field("scope"), "a b");
    env.issuer.set_grantable_scopes(Some("a".parse().unwrap()));
    let next = env.refresh_body(&login.field("refresh_token")).await;
    assert_eq!(next.field("scope"), "a", "the removed scope drops out");
    let claims = env
        .issuer
        .verifier()
        .verify(&next.field("access_token"))
        .unwrap();
    assert_eq!(claims.scope.as_str(), "a");
    let rt = next.field("refresh_token");

    // Narrowing is allowed, widening past the family's grant is not, and asking only
    // for what the ceiling took away is refused as well.
    let wide = env
        .json(
            "/auth/refresh",
            &json!({ "refresh_token": rt, "scope": "a c" }),
            &[],
        )
        .await;
    wide.assert_error(400, "invalid_scope");
    let taken = env
        .json(
            "/auth/refresh",
            &json!({ "refresh_token": rt, "scope": "b" }),
            &[],
        )
        .await;
    taken.assert_error(400, "invalid_scope");
    // Refused scope requests do not cost the session.
    env.issuer.set_grantable_scopes(None);
    let back = env
        .json(
            "/auth/refresh",
            &json!({ "refresh_token": rt, "scope": "b" }),
            &[],
        )
        .await;
    assert_eq!(back.field("scope"), "b");
    // A user ceiling lowered by an admin drops out the same way.
    let user = env.issuer.find_user("alice").await.unwrap().unwrap();
    env.issuer
        .set_user_scopes(&user.id, &"b".parse().unwrap())
        .await
        .unwrap();
    let last = env.refresh_body(&back.field("refresh_token")).await;
    assert_eq!(last.field("scope"), "b");
}

#[tokio::test]
async fn login_scope_grant_and_defaults() {
    let env = Env::with(|b| {
        b.default_scopes("a".parse().unwrap())
            .grantable_scopes("a b c".parse().unwrap())
    })
    .await
    .with_alice()
    .await;
    assert_eq!(
        env.login_cli("").await.field("scope"),
        "a",
        "no request: the default"
    );
    assert_eq!(
        env.login_cli("b c").await.field("scope"),
        "b",
        "cut to the user's ceiling"
    );
    let none = env
        .form(
            "/auth/token",
            &[
                ("username", "alice"),
                ("password", "correct horse"),
                ("scope", "c"),
                ("client_id", "cli"),
            ],
            &[],
        )
        .await;
    none.assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn idle_and_absolute_expiry_with_an_injected_clock() {
    let env = Env::with(|b| {
        b.idle_ttl(Duration::from_secs(100))
            .absolute_ttl(Duration::from_secs(250))
    })
    .await
    .with_alice()
    .await;
    // Idle: a session left alone for the idle lifetime dies.
    let idle = env.login_cli("a").await;
    env.advance(100);
    env.refresh_body(&idle.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");

    // Absolute: refreshing keeps the idle expiry sliding but never past the absolute one.
    let mut rt = env.login_cli("a").await.field("refresh_token");
    for _ in 0..2 {
        env.advance(99);
        let next = env.refresh_body(&rt).await;
        assert_eq!(next.status, 200, "{}", next.text());
        rt = next.field("refresh_token");
    }
    env.advance(52);
    env.refresh_body(&rt)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rehash_on_login_when_parameters_change() {
    let env = Env::start().await;
    let weak = issuer::PasswordPolicy {
        memory_kib: 32,
        iterations: 1,
        parallelism: 1,
    };
    let user = issuer::User {
        id: "u-old".into(),
        login: "bob".into(),
        password_hash: issuer::hash_password("hunter22", weak).unwrap(),
        active: true,
        scopes: Scopes::empty(),
    };
    let store = issuer::store::MemoryUserStore::new();
    issuer::UserStore::create(&store, &user).await.unwrap();
    let env2 = Env::with(|b| b.users(store.clone())).await;
    drop(env);
    let r = env2
        .form(
            "/auth/token",
            &[("username", "Bob "), ("password", "hunter22")],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let stored = issuer::UserStore::get(&store, "u-old")
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .password_hash
            .as_phc()
            .starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "rehashed with the current parameters"
    );
    // And it still verifies.
    let meta = RequestMeta::default();
    assert!(
        env2.issuer
            .login("bob", "hunter22", &Scopes::empty(), None, &meta)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn bad_credentials_unknown_and_disabled_users_look_the_same() {
    let env = Env::with(|b| {
        b.password_policy(issuer::PasswordPolicy {
            memory_kib: 4096,
            iterations: 2,
            parallelism: 1,
        })
        .throttle(issuer::ThrottlePolicy::DISABLED)
    })
    .await
    .with_alice()
    .await;
    env.issuer
        .add_user("carol", "pw carol", Scopes::empty())
        .await
        .unwrap();
    let carol = env.issuer.find_user("carol").await.unwrap().unwrap();
    env.issuer.disable_user(&carol.id).await.unwrap();

    let attempt = |user: &'static str, password: &'static str| {
        let env = &env;
        async move {
            let start = std::time::Instant::now();
            let r = env
                .form(
                    "/auth/token",
                    &[("username", user), ("password", password)],
                    &[],
                )
                .await;
            (r.status, r.body.clone(), start.elapsed())
        }
    };
    let wrong = attempt("alice", "wrong").await;
    let unknown = attempt("mallory", "wrong").await;
    let disabled = attempt("carol", "pw carol").await;
    assert_eq!(wrong.0, 400);
    assert_eq!((wrong.0, &wrong.1), (unknown.0, &unknown.1));
    assert_eq!((wrong.0, &wrong.1), (disabled.0, &disabled.1));

    // Timing: the median of each kind is within a factor of two of the others (the
    // dummy hash costs what a real one costs).
    // The kinds are interleaved so that load from other tests hits all alike.
    let kinds = [
        ("alice", "wrong"),
        ("mallory", "wrong"),
        ("carol", "pw carol"),
    ];
    let mut times = vec![Vec::new(); kinds.len()];
    for _ in 0..15 {
        for (n, (user, password)) in kinds.iter().enumerate() {
            times[n].push(attempt(user, password).await.2);
        }
    }
    let medians: Vec<_> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[7]
        })
        .collect();
    let (min, max) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
    assert!(
        max.as_secs_f64() < 2.0 * min.as_secs_f64(),
        "medians {medians:?}"
    );
    let failed = env.audit.of_kind(AuditKind::LoginFailed);
    let reasons: std::collections::HashSet<_> = failed.iter().filter_map(|e| e.reason).collect();
    assert!(
        reasons.contains("unknown_user")
            && reasons.contains("bad_password")
            && reasons.contains("user_disabled")
    );
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
