//! Shared fixtures: keys, a manual clock, a real TCP server and a real HTTP client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use token_core::{
    Algorithm, Claims, KeyRing, ManualClock, Minter, Scopes, SharedKeyRing, SigningKey, Verifier,
};

pub const ISSUER: &str = "https://auth.test";
pub const AUDIENCE: &str = "api";
pub const NOW: i64 = 1_700_000_000;

/// An issuer's keys, a minter for them, and a verifier that counts how often it
/// actually verifies (so tests can tell a cache hit from a miss).
pub struct Fixture {
    pub clock: ManualClock,
    pub ring: SharedKeyRing,
    pub minter: Minter,
    pub verifier: Verifier,
    pub verifications: Arc<AtomicUsize>,
}

impl Fixture {
    pub fn new(alg: Algorithm) -> Self {
        Fixture::for_issuer(alg, ISSUER, ManualClock::new(NOW))
    }

    pub fn for_issuer(alg: Algorithm, issuer: &str, clock: ManualClock) -> Self {
        let key = match alg {
            Algorithm::HS256 => SigningKey::from_hmac_secret(alg, &[42; 32]).unwrap(),
            _ => SigningKey::generate(alg).unwrap().into_signing_key(),
        };
        let ring = SharedKeyRing::new(KeyRing::with_signing_key(key));
        let minter = Minter::builder(ring.clone())
            .issuer(issuer)
            .audience(AUDIENCE)
            .ttl(Duration::from_secs(600))
            .clock(clock.clone())
            .build()
            .unwrap();
        let verifications = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&verifications);
        let verifier = Verifier::builder(ring.clone())
            .issuer(issuer)
            .audience(AUDIENCE)
            .clock(clock.clone())
            .check(move |_: &Claims| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .build()
            .unwrap();
        Fixture {
            clock,
            ring,
            minter,
            verifier,
            verifications,
        }
    }

    pub fn token(&self, sub: &str, scope: &str) -> String {
        self.mint(Claims::for_subject(sub).with_scope(scopes(scope)))
    }

    pub fn mint(&self, claims: Claims) -> String {
        self.minter.mint(claims).unwrap().token
    }

    pub fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }
}

pub fn scopes(s: &str) -> Scopes {
    s.parse().unwrap()
}

/// Serves `app` on a loopback port until the test's runtime ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn challenge(&self) -> &str {
        self.header("www-authenticate").unwrap_or("")
    }
}

/// A real HTTP/1.1 client over TCP.
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> Self {
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    /// A request builder for `method path` on the server.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path))
    }

    pub async fn send(&self, builder: http::request::Builder) -> Reply {
        let request = builder.body(Full::new(Bytes::new())).unwrap();
        let response = self.client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request("GET", path)).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(
            self.request("GET", path)
                .header("authorization", format!("Bearer {token}")),
        )
        .await
    }
}
