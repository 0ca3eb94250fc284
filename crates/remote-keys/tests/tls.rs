//! The default client over TLS: an issuer behind a private CA is reached with a
//! `rustls::ClientConfig` that trusts it, and refused by the default roots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use remote_keys::{Error, HyperClient, RemoteKeys, Source};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use token_core::{Algorithm, KeyRing, SigningKey};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A JWKS served over TLS on 127.0.0.1 with a certificate from a fresh CA; the
/// CA's certificate, the URL, and a count of TLS handshakes that completed.
async fn tls_issuer(jwks: String) -> (CertificateDer<'static>, String, Arc<AtomicUsize>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/jwks.json", listener.local_addr().unwrap());
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&handshakes);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (acceptor, jwks, counted) = (acceptor.clone(), jwks.clone(), Arc::clone(&counted));
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return; // the client refused our certificate
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |_| {
                    let body = Bytes::from(jwks.clone());
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (ca.der().clone(), url, handshakes)
}

#[tokio::test]
async fn keys_are_fetched_over_tls_from_an_issuer_behind_a_private_ca() {
    let key = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    let kid = key.kid().to_owned();
    let jwks = KeyRing::with_signing_key(key).to_jwks().to_json();
    let (ca, url, handshakes) = tls_issuer(jwks).await;

    // Mozilla's roots do not know this CA: the handshake fails, nothing is trusted.
    let failed = RemoteKeys::builder(Source::jwks_url(url.clone()))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::Transport { .. }), "{failed}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 0);

    // A client configuration that trusts the private CA (ring provider).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let remote = RemoteKeys::builder(Source::jwks_url(url))
        .http_client(HyperClient::with_tls_config(tls))
        .start()
        .await
        .unwrap();
    assert!(remote.key_ring().load().find(&kid).is_some());
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);
}
