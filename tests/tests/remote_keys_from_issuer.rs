//! A verifier that takes its keys from the issuer over HTTP: the issuer serves
//! `/auth/.well-known/jwks.json` on one port, an API on another port verifies with a
//! `BearerAuthLayer` fed by `remote-keys`. Tokens are minted by a real password
//! login; the issuer rotates its keys; then it goes down.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use issuer::{ClientAddr, Issuer, PasswordPolicy, RefreshTransport};
use remote_keys::{RemoteKeys, Source};
use token_core::{Algorithm, SigningKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tower_bearer::axum::Claims;
use tower_service::Service;

const JWKS_PATH: &str = "/auth/.well-known/jwks.json";

/// The issuer on its own port, counting JWKS requests; `stop` closes the port and
/// every open connection, as a crashed issuer would.
struct IssuerServer {
    addr: SocketAddr,
    issuer: Issuer,
    jwks_requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl IssuerServer {
    async fn start() -> IssuerServer {
        let issuer = Issuer::builder()
            .signing_key(
                SigningKey::generate(Algorithm::EdDSA)
                    .unwrap()
                    .into_signing_key(),
            )
            .issuer_url("https://auth.example")
            .audience("api")
            .mount_path("/auth")
            .access_ttl(Duration::from_secs(900))
            .password_policy(PasswordPolicy::INSECURE_FAST)
            .transport(RefreshTransport::Body)
            .build()
            .unwrap();
        issuer
            .add_user("alice", "correct horse", "me:read".parse().unwrap())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let jwks_requests = Arc::new(AtomicUsize::new(0));
        let (service, counter) = (issuer.service(), Arc::clone(&jwks_requests));
        let task = tokio::spawn(async move {
            // Connections live in this task's set: aborting the task closes them all.
            let mut connections = JoinSet::new();
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                let (service, counter) = (service.clone(), Arc::clone(&counter));
                let svc = hyper::service::service_fn(
                    move |mut request: Request<hyper::body::Incoming>| {
                        if request.uri().path() == JWKS_PATH {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        request.extensions_mut().insert(ClientAddr(peer));
                        service.clone().call(request)
                    },
                );
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        IssuerServer {
            addr,
            issuer,
            jwks_requests,
            task,
        }
    }

    fn jwks_url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    fn jwks_requests(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }

    /// A real password login at `POST /auth/token`; the access token.
    async fn login(&self) -> String {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("username", "alice"), ("password", "correct horse")])
            .finish();
        let (status, body) = send(
            self.addr,
            Method::POST,
            "/auth/token",
            ("content-type", "application/x-www-form-urlencoded"),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    }

    fn stop(&self) {
        self.task.abort();
    }
}

/// One request on a fresh connection.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: String,
) -> (StatusCode, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header(header.0, header.1)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

async fn me(Claims(claims): Claims) -> String {
    claims.sub.as_deref().unwrap_or_default().to_owned()
}

/// The API, verifying with keys fetched from `jwks_url`.
async fn start_api(jwks_url: String) -> (SocketAddr, RemoteKeys) {
    let remote = RemoteKeys::builder(Source::jwks_url(jwks_url))
        .timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let verifier = remote
        .verifier()
        .issuer("https://auth.example")
        .audience("api")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(me))
        .layer(remote.layer(verifier));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, remote)
}

async fn get_me(api: SocketAddr, token: &str) -> StatusCode {
    let bearer = format!("Bearer {token}");
    send(
        api,
        Method::GET,
        "/me",
        ("authorization", &bearer),
        String::new(),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_rotation_reaches_remote_verifiers_and_an_outage_keeps_cached_keys() {
    let issuer = IssuerServer::start().await;
    let (api, remote) = start_api(issuer.jwks_url()).await;
    assert_eq!(issuer.jwks_requests(), 1);
    // The issuer's `Cache-Control: public, max-age=300` sets the freshness.
    // (Read a moment after the fetch: a few milliseconds may have passed.)
    let fresh_for = remote.status().fresh_for.unwrap();
    assert!(
        fresh_for <= Duration::from_secs(300) && fresh_for > Duration::from_secs(295),
        "{fresh_for:?}"
    );

    let first = issuer.login().await;
    assert_eq!(get_me(api, &first).await, StatusCode::OK);

    // One rotation: the key that now signs was published before it signed, so the
    // verifier already has it and needs no fetch at all.
    issuer.issuer.rotate_keys().await.unwrap();
    let second = issuer.login().await;
    assert_eq!(get_me(api, &second).await, StatusCode::OK);
    assert_eq!(issuer.jwks_requests(), 1);

    // A second rotation: the signing key was published after the verifier's
    // fetch. Its tokens verify after exactly one refetch, without a restart.
    issuer.issuer.rotate_keys().await.unwrap();
    let third = issuer.login().await;
    assert_eq!(get_me(api, &third).await, StatusCode::OK);
    assert_eq!(issuer.jwks_requests(), 2);
    for token in [&first, &second, &third] {
        assert_eq!(get_me(api, token).await, StatusCode::OK);
    }
    assert_eq!(issuer.jwks_requests(), 2);

    // The issuer goes down: fetching fails, the cached keys keep verifying.
    issuer.stop();
    assert!(remote.refresh_now().await.is_err());
    assert_eq!(remote.status().consecutive_failures, 1);
    for token in [&first, &second, &third] {
        assert_eq!(get_me(api, token).await, StatusCode::OK);
    }
}
