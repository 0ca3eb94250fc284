//! A local issuer that publishes its JWKS (and discovery documents) over real TCP,
//! with switches for every fault the tests need, a protected API behind the layer,
//! and a real HTTP client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use token_core::{Algorithm, Claims, Clock, KeyRing, Minter, SigningKey, SystemClock};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_bearer::BearerAuthLayer;
use tower_layer::Layer;

pub const AUDIENCE: &str = "api";
pub const JWKS_PATH: &str = "/jwks.json";
pub const OIDC: &str = "/.well-known/openid-configuration";
pub const OAUTH: &str = "/.well-known/oauth-authorization-server";

/// Which discovery documents the issuer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    None,
    Oidc,
    Oauth,
}

/// What the issuer answers; every field can change while it runs.
pub struct Behaviour {
    /// `Cache-Control` of the JWKS.
    pub cache_control: Option<String>,
    /// Answer with this status and body instead of the JWKS.
    pub jwks_override: Option<(StatusCode, Vec<u8>)>,
    /// Wait this long before answering anything.
    pub delay: Duration,
    pub discovery: Discovery,
    /// The `issuer` the metadata claims (defaults to the real one).
    pub metadata_issuer: Option<String>,
}

pub struct Shared {
    /// The issuer identifier: `http://127.0.0.1:port{path}`.
    pub issuer: String,
    /// The signing key (the ring's active one) and every published key.
    pub keys: Mutex<KeyRing>,
    pub behaviour: Mutex<Behaviour>,
    /// Requests per path.
    hits: Mutex<HashMap<String, usize>>,
    /// When each JWKS request arrived.
    jwks_times: Mutex<Vec<Instant>>,
}

/// A local issuer on a loopback port.
pub struct TestIssuer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
    clock: Arc<dyn Clock>,
}

impl TestIssuer {
    /// An issuer at `http://127.0.0.1:port` with one ES256 key.
    pub async fn start() -> TestIssuer {
        TestIssuer::start_with("", Arc::new(SystemClock)).await
    }

    /// An issuer whose identifier has `path` after the authority, minting with
    /// `clock`.
    pub async fn start_with(path: &str, clock: Arc<dyn Clock>) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key();
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}{path}"),
            keys: Mutex::new(KeyRing::with_signing_key(key)),
            behaviour: Mutex::new(Behaviour {
                cache_control: None,
                jwks_override: None,
                delay: Duration::ZERO,
                discovery: Discovery::None,
                metadata_issuer: None,
            }),
            hits: Mutex::new(HashMap::new()),
            jwks_times: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        TestIssuer {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
            clock,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.behaviour.lock().unwrap());
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.hits(JWKS_PATH)
    }

    pub fn jwks_times(&self) -> Vec<Instant> {
        self.shared.jwks_times.lock().unwrap().clone()
    }

    /// Publishes a new ES256 key and signs with it from now on; the old key stays
    /// published. Returns the new `kid`.
    pub fn rotate(&self) -> String {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key();
        let kid = key.kid().to_owned();
        self.shared
            .keys
            .lock()
            .unwrap()
            .set_signing_key(key)
            .unwrap();
        kid
    }

    /// Stops publishing the key `kid`.
    pub fn retire(&self, kid: &str) {
        self.shared.keys.lock().unwrap().remove(kid).unwrap();
    }

    pub fn signing_kid(&self) -> String {
        let keys = self.shared.keys.lock().unwrap();
        keys.signing_key().unwrap().kid().to_owned()
    }

    /// A token for `sub` signed with the current key, for audience `api`.
    pub fn token(&self, sub: &str) -> String {
        let ring = self.shared.keys.lock().unwrap().clone();
        let minter = Minter::builder(ring)
            .issuer(self.shared.issuer.clone())
            .audience(AUDIENCE)
            .ttl(Duration::from_secs(24 * 3600))
            .shared_clock(Arc::clone(&self.clock))
            .build()
            .unwrap();
        minter.mint(Claims::for_subject(sub)).unwrap().token
    }

    /// Stops accepting connections: the port refuses from now on.
    pub fn stop(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
        }
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(answer(&shared, request.uri().path()).await) }
        });
        tokio::spawn(async move {
            // One request per connection, so a stopped issuer is really gone.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(shared: &Shared, path: &str) -> Response<Full<Bytes>> {
    *shared
        .hits
        .lock()
        .unwrap()
        .entry(path.to_owned())
        .or_default() += 1;
    if path == JWKS_PATH {
        shared.jwks_times.lock().unwrap().push(Instant::now());
    }
    let delay = shared.behaviour.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let behaviour = shared.behaviour.lock().unwrap();
    let issuer_path = shared
        .issuer
        .split_once("//")
        .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
        .unwrap_or("");
    let oidc_path = format!("{issuer_path}{OIDC}");
    let oauth_path = format!("{OAUTH}{issuer_path}");
    let metadata = |shared: &Shared| {
        let authority = shared
            .issuer
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        let issuer = behaviour
            .metadata_issuer
            .clone()
            .unwrap_or_else(|| shared.issuer.clone());
        serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("http://{authority}{JWKS_PATH}"),
            "token_endpoint": format!("{}/token", shared.issuer),
            "response_types_supported": ["code"],
        })
        .to_string()
    };
    let (status, body, cache_control) = if path == JWKS_PATH {
        match &behaviour.jwks_override {
            Some((status, body)) => (*status, body.clone(), None),
            None => {
                let jwks = shared.keys.lock().unwrap().to_jwks().to_json();
                (
                    StatusCode::OK,
                    jwks.into_bytes(),
                    behaviour.cache_control.clone(),
                )
            }
        }
    } else if path == oidc_path && behaviour.discovery == Discovery::Oidc
        || path == oauth_path && behaviour.discovery == Discovery::Oauth
    {
        (StatusCode::OK, metadata(shared).into_bytes(), None)
    } else {
        (StatusCode::NOT_FOUND, b"not found".to_vec(), None)
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(cache_control) = cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, cache_control.parse().unwrap());
    }
    response
}

/// Serves a hello-world API behind `layer` on a loopback port.
pub async fn serve_api(layer: BearerAuthLayer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = layer.layer(tower::service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    }));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(api.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A real HTTP/1.1 client for the API.
#[derive(Clone)]
pub struct ApiClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
}

/// Status and `WWW-Authenticate` of an answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub challenge: String,
}

impl ApiClient {
    pub fn new(addr: SocketAddr) -> ApiClient {
        ApiClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    pub async fn get(&self, token: &str) -> Reply {
        let request = Request::get(format!("http://{}/reports", self.addr))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::new())
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let _ = response.into_body().collect().await.unwrap();
        Reply { status, challenge }
    }
}

/// `token` with its header's `kid` replaced: a token naming a key no one has.
pub fn with_kid(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    json["kid"] = kid.into();
    format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap())
    )
}

/// A `kid` no key has, different on every call.
pub fn random_kid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    format!("{:016x}", RandomState::new().hash_one(Instant::now()))
}
