//! The issuer and the layer together, over TCP: an epoch bump at the issuer kills
//! every older access token at a `BearerAuthLayer` that asks the issuer's
//! `EpochSource`, and a logout kills the session's access tokens at one that asks its
//! `RevocationCheck`.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use issuer::{Issuer, PasswordPolicy, RefreshTransport};
use serde_json::Value;
use token_core::{Algorithm, ManualClock, SigningKey};
use tokio::net::{TcpListener, TcpStream};
use tower_bearer::BearerAuthLayer;
use tower_bearer::axum::Claims;

/// How long the layer may trust an epoch or revocation answer.
const STATUS_TTL: Duration = Duration::from_secs(5);

struct App {
    addr: SocketAddr,
    issuer: Issuer,
    clock: ManualClock,
}

async fn me(Claims(claims): Claims) -> String {
    format!(
        "{} ver={}",
        claims.sub.as_deref().unwrap_or_default(),
        claims.ver.unwrap_or_default()
    )
}

async fn start() -> App {
    let clock = ManualClock::new(1_750_000_000);
    let issuer = Issuer::builder()
        .signing_key(
            SigningKey::generate(Algorithm::EdDSA)
                .unwrap()
                .into_signing_key(),
        )
        .issuer_url("https://auth.example")
        .audience("api")
        .mount_path("/auth")
        .password_policy(PasswordPolicy::INSECURE_FAST)
        .transport(RefreshTransport::Body)
        .clock(clock.clone())
        .build()
        .unwrap();
    issuer
        .add_user("alice", "correct horse", "me:read".parse().unwrap())
        .await
        .unwrap();

    let api = Router::new().route("/me", get(me)).layer(
        BearerAuthLayer::builder(issuer.verifier())
            .epoch_source(issuer.epoch_source())
            .revocation_check(issuer.revocation_check())
            .status_ttl(STATUS_TTL)
            .build(),
    );
    let app = Router::new()
        .nest_service("/auth", issuer.service())
        .merge(api);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App {
        addr,
        issuer,
        clock,
    }
}

struct Reply {
    status: StatusCode,
    www_authenticate: Option<String>,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl App {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Reply {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            www_authenticate,
            body,
        }
    }

    async fn form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
    }

    /// Logs alice in; returns (access token, refresh token).
    async fn login(&self) -> (String, String) {
        let reply = self
            .form(
                "/auth/token",
                &[("username", "alice"), ("password", "correct horse")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body = reply.json();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn me(&self, access: &str) -> Reply {
        let bearer = format!("Bearer {access}");
        self.send(
            Method::GET,
            "/me",
            &[("authorization", &bearer)],
            String::new(),
        )
        .await
    }

    /// Moves time past the layer's bound on trusting an earlier answer.
    fn outlive_status_cache(&self) {
        self.clock.advance(STATUS_TTL + Duration::from_secs(1));
    }
}

fn assert_invalid_token(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    let challenge = reply.www_authenticate.as_deref().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epoch_bump_kills_older_access_and_refresh_tokens() {
    let app = start().await;
    let alice = app.issuer.find_user("alice").await.unwrap().unwrap();
    let (access, refresh) = app.login().await;
    let ok = app.me(&access).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.text(), format!("{} ver=0", alice.id));

    let version = app.issuer.bump_token_version(&alice.id).await.unwrap();
    assert_eq!(version, 1);
    app.outlive_status_cache();

    assert_invalid_token(&app.me(&access).await);
    let refused = app
        .form(
            "/auth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["error"], "invalid_grant");

    // A new login carries the new epoch and passes.
    let (fresh, _) = app.login().await;
    let ok = app.me(&fresh).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.text(), format!("{} ver=1", alice.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_kills_the_sessions_access_tokens() {
    let app = start().await;
    let (access, refresh) = app.login().await;
    let (other_device, _) = app.login().await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);

    let reply = app
        .form(
            "/auth/logout",
            &[("refresh_token", &refresh), ("scope", "local")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    app.outlive_status_cache();

    assert_invalid_token(&app.me(&access).await);
    // Only that session ended: the other device keeps working.
    assert_eq!(app.me(&other_device).await.status, StatusCode::OK);
}
