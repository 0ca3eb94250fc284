//! The HTTP client seam: [`HttpGet`], and [`HyperClient`], the default (hyper 1 with
//! rustls).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri, header};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use token_core::BoxFuture;

use crate::error::HttpError;

/// One GET the key source makes: a JWKS or a metadata document.
#[derive(Clone, Debug)]
pub struct GetRequest {
    /// What to fetch.
    pub url: Uri,
    /// The largest body to read. A client must stop reading past it and answer
    /// [`HttpError::TooLarge`]; the source checks the length again either way.
    pub max_body_bytes: usize,
}

/// An HTTP client for the key source: one GET, answered with the status, the
/// headers (the source reads `Cache-Control` and `Age`) and the whole body.
///
/// The source bounds every call with its own timeout, whatever the client does,
/// and follows no redirects: a client that does follows them on its own
/// authority. [`HyperClient`] is the default; implement this for another client
/// (a proxy, a mesh sidecar, a test double).
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use remote_keys::{GetRequest, HttpError, HttpGet};
/// use token_core::BoxFuture;
///
/// /// Serves one fixed document, whatever is asked.
/// struct Fixed(&'static str);
///
/// impl HttpGet for Fixed {
///     fn get<'a>(&'a self, _: &'a GetRequest) -> BoxFuture<'a, Result<Response<Bytes>, HttpError>> {
///         Box::pin(async move { Ok(Response::new(Bytes::from_static(self.0.as_bytes()))) })
///     }
/// }
/// ```
pub trait HttpGet: Send + Sync + 'static {
    /// Fetches `request.url`.
    fn get<'a>(
        &'a self,
        request: &'a GetRequest,
    ) -> BoxFuture<'a, Result<Response<Bytes>, HttpError>>;
}

impl<T: HttpGet + ?Sized> HttpGet for Arc<T> {
    fn get<'a>(
        &'a self,
        request: &'a GetRequest,
    ) -> BoxFuture<'a, Result<Response<Bytes>, HttpError>> {
        (**self).get(request)
    }
}

/// The default client: hyper 1 over HTTP/1.1, TLS by rustls with the *ring*
/// provider, trusting Mozilla's root certificates (`webpki-roots`).
///
/// Why compiled-in roots rather than the system's store: verifiers often run in
/// minimal containers (distroless, `scratch`) that have no CA bundle, and a key
/// source should trust the same roots on every machine it scales out to. An issuer
/// behind a private CA is reached with [`with_tls_config`](Self::with_tls_config)
/// and a `rustls::ClientConfig` that trusts it.
///
/// Idle connections are kept for 30 seconds (a discovery document and its JWKS
/// share one), then closed: refreshes are minutes apart.
#[derive(Clone)]
pub struct HyperClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl HyperClient {
    /// A client trusting Mozilla's roots.
    pub fn new() -> Self {
        HyperClient::with_tls_config(HyperClient::default_tls_config())
    }

    /// A client with your TLS configuration: private roots, client certificates.
    /// Build it with the ring provider
    /// (`rustls::ClientConfig::builder_with_provider`) or any other you link.
    pub fn with_tls_config(config: rustls::ClientConfig) -> Self {
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .build(connector);
        HyperClient { client }
    }

    /// The TLS configuration of [`new`](Self::new): TLS 1.2 and 1.3 with the ring
    /// provider, Mozilla's roots, no client certificate.
    #[allow(
        clippy::expect_used,
        reason = "ring supports TLS 1.2 and 1.3: the builder cannot refuse them"
    )]
    pub fn default_tls_config() -> rustls::ClientConfig {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }
}

impl Default for HyperClient {
    fn default() -> Self {
        HyperClient::new()
    }
}

impl fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperClient").finish_non_exhaustive()
    }
}

const USER_AGENT: &str = concat!("remote-keys/", env!("CARGO_PKG_VERSION"));

impl HttpGet for HyperClient {
    fn get<'a>(
        &'a self,
        request: &'a GetRequest,
    ) -> BoxFuture<'a, Result<Response<Bytes>, HttpError>> {
        Box::pin(async move {
            let get = Request::get(request.url.clone())
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, USER_AGENT)
                .body(Empty::new())
                .map_err(HttpError::transport)?;
            let response = self
                .client
                .request(get)
                .await
                .map_err(HttpError::transport)?;
            let limit = request.max_body_bytes;
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > limit as u64) {
                return Err(HttpError::TooLarge { limit });
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<LengthLimitError>() {
                        HttpError::TooLarge { limit }
                    } else {
                        HttpError::Transport(e)
                    }
                })?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        })
    }
}
