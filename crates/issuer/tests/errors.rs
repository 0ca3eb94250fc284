//! Every RFC 6749 section 5.2 error case, over real TCP: the right `error` code, the
//! right status, `Cache-Control: no-store`, and nothing of the request echoed.

mod common;

use std::time::Duration;

use common::{Env, ORIGIN};
use http::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let env = Env::start().await.with_alice().await;
    // Repeated parameter (RFC 6749 section 3.1).
    env.request(
        Method::POST,
        "/auth/token",
        &[FORM],
        "username=a&username=b&password=x",
    )
    .await
    .assert_error(400, "invalid_request");
    // Not UTF-8.
    env.request(
        Method::POST,
        "/auth/token",
        &[FORM],
        &b"username=\xff&password=x"[..],
    )
    .await
    .assert_error(400, "invalid_request");
    // Missing parameters.
    env.form(
        "/auth/token",
        &[("grant_type", "password"), ("username", "alice")],
        &[],
    )
    .await
    .assert_error(400, "invalid_request");
    env.form("/auth/token", &[("grant_type", "refresh_token")], &[])
        .await
        .assert_error(400, "invalid_request");
    // Malformed JSON, and JSON of the wrong shape.
    for body in ["{", "[]", "{\"refresh_token\": 5}"] {
        env.request(
            Method::POST,
            "/auth/refresh",
            &[("content-type", "application/json")],
            body,
        )
        .await
        .assert_error(400, "invalid_request");
    }
    env.json("/auth/refresh", &json!({}), &[])
        .await
        .assert_error(400, "invalid_request");
    // The refresh cookie twice (cookie tossing).
    env.request(
        Method::POST,
        "/auth/refresh",
        &[
            (
                "cookie",
                "__Secure-refresh_token=a; __Secure-refresh_token=b",
            ),
            ("origin", ORIGIN),
        ],
        "",
    )
    .await
    .assert_error(400, "invalid_request");
    // Client credentials in two places at once.
    env.form(
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ],
        &[("authorization", "Basic eDp5")],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let env = Env::start().await.with_alice().await;
    env.json(
        "/auth/token",
        &json!({ "username": "alice", "password": "correct horse" }),
        &[],
    )
    .await
    .assert_error(415, "invalid_request");
    env.request(
        Method::POST,
        "/auth/token",
        &[],
        "username=alice&password=x",
    )
    .await
    .assert_error(415, "invalid_request");
    env.request(
        Method::POST,
        "/auth/refresh",
        &[("content-type", "text/plain")],
        "rt1.x",
    )
    .await
    .assert_error(415, "invalid_request");
    env.request(
        Method::POST,
        "/auth/introspect",
        &[("content-type", "application/json")],
        "{}",
    )
    .await
    .assert_error(415, "invalid_request");
}

#[tokio::test]
async fn unknown_and_empty_grant_types() {
    let env = Env::start().await;
    env.form(
        "/auth/token",
        &[("grant_type", "authorization_code"), ("code", "x")],
        &[],
    )
    .await
    .assert_error(400, "unsupported_grant_type");
    env.request(
        Method::POST,
        "/auth/token",
        &[FORM],
        "grant_type=&username=a&password=b",
    )
    .await
    .assert_error(400, "unsupported_grant_type");
}

#[tokio::test]
async fn bad_credentials_and_disabled_users_are_invalid_grant() {
    let env = Env::start().await.with_alice().await;
    let wrong = env
        .form(
            "/auth/token",
            &[("username", "alice"), ("password", "nope")],
            &[],
        )
        .await;
    wrong.assert_error(400, "invalid_grant");
    let unknown = env
        .form(
            "/auth/token",
            &[("username", "nobody"), ("password", "nope")],
            &[],
        )
        .await;
    assert_eq!(
        unknown.body, wrong.body,
        "unknown users look like wrong passwords"
    );
    let user = env.issuer.find_user("alice").await.unwrap().unwrap();
    env.issuer.disable_user(&user.id).await.unwrap();
    let disabled = env
        .form(
            "/auth/token",
            &[("username", "alice"), ("password", "correct horse")],
            &[],
        )
        .await;
    assert_eq!(disabled.body, wrong.body, "disabled users too");
    assert!(
        !wrong.text().contains("nope") && !wrong.text().contains("alice"),
        "nothing echoed"
    );
}

#[tokio::test]
async fn unusable_refresh_tokens_are_invalid_grant() {
    let env = Env::with(|b| b.idle_ttl(Duration::from_secs(60)))
        .await
        .with_alice()
        .await;
    let other = Env::start().await.with_alice().await;
    let foreign = other.login_cli("a").await.field("refresh_token");

    let good = env.login_cli("a").await.field("refresh_token");
    let tampered = {
        let mut t = good.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    for token in [
        "garbage".to_owned(),
        "rt1.a.1.b".to_owned(),
        foreign,
        tampered,
    ] {
        env.refresh_body(&token)
            .await
            .assert_error(400, "invalid_grant");
    }
    // Forged tokens never reached the store: the genuine one still rotates.
    let next = env.refresh_body(&good).await;
    assert_eq!(next.status, 200);

    // Presented by another client than the one it was issued to.
    let mine = env.login_cli("a").await.field("refresh_token");
    env.form(
        "/auth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &mine),
            ("client_id", "spa"),
        ],
        &[],
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(
        env.refresh_body(&mine).await.status,
        200,
        "and that did not cost the session"
    );

    // Revoked.
    let revoked = env.login_cli("a").await.field("refresh_token");
    env.form("/auth/revoke", &[("token", &revoked)], &[]).await;
    env.refresh_body(&revoked)
        .await
        .assert_error(400, "invalid_grant");
    // Reused (past the grace interval).
    let first = env.login_cli("a").await.field("refresh_token");
    env.refresh_body(&first).await;
    env.advance(11);
    env.refresh_body(&first)
        .await
        .assert_error(400, "invalid_grant");
    // Expired.
    env.advance(60);
    env.refresh_body(&next.field("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn scopes_outside_the_ceiling_are_invalid_scope() {
    let env = Env::start().await.with_alice().await;
    env.form(
        "/auth/token",
        &[
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "admin"),
        ],
        &[],
    )
    .await
    .assert_error(400, "invalid_scope");
    env.form(
        "/auth/token",
        &[
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "a\"b"),
        ],
        &[],
    )
    .await
    .assert_error(400, "invalid_scope");
    let rt = env.login_cli("a").await.field("refresh_token");
    env.json(
        "/auth/refresh",
        &json!({ "refresh_token": rt, "scope": "a b" }),
        &[],
    )
    .await
    .assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn client_authentication_failures_are_401_with_basic_challenge() {
    let env = Env::start().await.with_alice().await;
    for auth in ["Basic !!!", "Basic Zm9v", "Basic Z2hvc3Q6eA=="] {
        let r = env
            .form(
                "/auth/token",
                &[("grant_type", "client_credentials")],
                &[("authorization", auth)],
            )
            .await;
        r.assert_error(401, "invalid_client");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"issuer\""));
    }
    // A public client cannot use client credentials even if it names itself.
    env.form(
        "/auth/token",
        &[("grant_type", "client_credentials"), ("client_id", "cli")],
        &[],
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn routing_errors() {
    let env = Env::start().await;
    let r = env.request(Method::GET, "/auth/token", &[], "").await;
    r.assert_error(405, "invalid_request");
    assert_eq!(r.header("allow"), Some("POST"));
    env.request(Method::GET, "/auth/nope", &[], "")
        .await
        .assert_error(404, "not_found");
    env.request(Method::POST, "/auth/.well-known/jwks.json", &[], "")
        .await
        .assert_error(405, "invalid_request");
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_reading_them() {
    let env = Env::with(|b| b.max_body(1024)).await;
    // A declared length over the bound: refused before a byte of body is read. The
    // client sends only the headers and waits; a server that tried to read the body
    // would hang here.
    let mut stream = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    stream
        .write_all(
            b"POST /auth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
              content-length: 100000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("invalid_request"), "{text}");

    // A body with no declared length (chunked) is cut off at the bound.
    let big = "a=".to_owned() + &"x".repeat(4096);
    let mut stream = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let request = format!(
        "POST /auth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"));
}
