//! Mounted in axum with `nest_service`, served by `axum::serve` with `ConnectInfo`.

mod common;

use std::net::SocketAddr;

use axum::Router;
use common::{Env, send};
use http::Method;
use issuer::AuditKind;

#[tokio::test]
async fn nest_service_under_auth_with_connect_info() {
    // Reuse the test issuer's configuration (mount path /auth, memory stores).
    let env = Env::start().await.with_alice().await;
    let app = Router::new().nest_service("/auth", env.issuer.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    let body = "username=alice&password=correct+horse";
    let login = send(
        addr,
        Method::POST,
        "/auth/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", "axum-test"),
        ],
        body.into(),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = &login.set_cookies()[0];
    assert!(cookie.contains("; Path=/auth;"), "{cookie}");
    // The client address came from axum's ConnectInfo.
    let event = &env.audit.of_kind(AuditKind::LoginSucceeded)[0];
    assert_eq!(event.ip, Some([127, 0, 0, 1].into()));
    let jwks = send(
        addr,
        Method::GET,
        "/auth/.well-known/jwks.json",
        &[],
        "".into(),
    )
    .await;
    assert_eq!(jwks.status, 200);
}
