//! A real issuer on a real TCP port, and a real HTTP/1.1 client.
// Test support: panicking is how it reports.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use issuer::{
    ClientAddr, Issuer, IssuerBuilder, MemoryAuditSink, PasswordPolicy, RefreshTransport,
};
use serde_json::Value;
use token_core::{Algorithm, ManualClock, SigningKey};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

pub const ORIGIN: &str = "https://app.example";

/// A running issuer mounted under `/auth`, with its clock and audit log.
pub struct Env {
    pub addr: SocketAddr,
    pub issuer: Issuer,
    pub clock: ManualClock,
    pub audit: MemoryAuditSink,
}

/// The builder every test starts from: fast (insecure) hashing, a manual clock,
/// EdDSA keys, mounted at `/auth`, cookie transport by default.
pub fn builder(clock: &ManualClock, audit: &MemoryAuditSink) -> IssuerBuilder {
    Issuer::builder()
        .signing_key(
            SigningKey::generate(Algorithm::EdDSA)
                .unwrap()
                .into_signing_key(),
        )
        .issuer_url("https://auth.example")
        .audience("api")
        .mount_path("/auth")
        .allowed_origin(ORIGIN)
        .password_policy(PasswordPolicy::INSECURE_FAST)
        .hash_workers(2)
        .clock(clock.clone())
        .audit(audit.clone())
}

impl Env {
    pub async fn start() -> Env {
        Env::with(|b| b).await
    }

    pub async fn with(configure: impl FnOnce(IssuerBuilder) -> IssuerBuilder) -> Env {
        let clock = ManualClock::new(1_750_000_000);
        let audit = MemoryAuditSink::new();
        let issuer = configure(builder(&clock, &audit)).build().unwrap();
        let addr = serve(issuer.clone()).await;
        Env {
            addr,
            issuer,
            clock,
            audit,
        }
    }

    /// Adds `alice` / `correct horse` with scopes `a b`, and public clients `cli`
    /// (body transport) and `spa` (cookie transport).
    pub async fn with_alice(self) -> Env {
        self.issuer
            .add_user("alice", "correct horse", "a b".parse().unwrap())
            .await
            .unwrap();
        self.issuer
            .add_public_client("cli", RefreshTransport::Body)
            .await
            .unwrap();
        self.issuer
            .add_public_client("spa", RefreshTransport::Cookie)
            .await
            .unwrap();
        self
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        send(self.addr, method, path, headers, body.into()).await
    }

    pub async fn form(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.request(Method::POST, path, &all, body).await
    }

    pub async fn json(&self, path: &str, value: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(Method::POST, path, &all, value.to_string())
            .await
    }

    /// Password login as alice through `cli` (body transport).
    pub async fn login_cli(&self, scope: &str) -> Resp {
        let r = self
            .form(
                "/auth/token",
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "correct horse"),
                    ("scope", scope),
                    ("client_id", "cli"),
                ],
                &[("user-agent", "test-cli/1.0")],
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", r.text());
        r
    }

    pub async fn refresh_body(&self, token: &str) -> Resp {
        self.json(
            "/auth/refresh",
            &serde_json::json!({ "refresh_token": token }),
            &[],
        )
        .await
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

/// Serves `issuer` on 127.0.0.1, port chosen by the OS, with the peer address in
/// every request's extensions.
pub async fn serve(issuer: Issuer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let service = issuer.service();
            tokio::spawn(async move {
                let svc = service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    service.clone().call(request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// An answer, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The refresh cookie's value from `Set-Cookie`, if one is set (not cleared).
    pub fn refresh_cookie(&self) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let value = c
                .strip_prefix("__Secure-refresh_token=")?
                .split(';')
                .next()?;
            (!value.is_empty()).then(|| value.to_owned())
        })
    }

    pub fn clears_cookie(&self) -> bool {
        self.set_cookies()
            .iter()
            .any(|c| c.starts_with("__Secure-refresh_token=;") && c.contains("Max-Age=0"))
    }

    /// Asserts an RFC 6749 section 5.2 error answer.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["error_description"].is_string(), "{body}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }

    pub fn field(&self, name: &str) -> String {
        self.json()[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {}", self.text()))
            .to_owned()
    }
}

/// One request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}
