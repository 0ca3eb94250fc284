//! The layer without axum: on a plain hyper 1 server over TCP, with the caller's
//! own extra claims.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use token_core::{Algorithm, Claims, Verifier};
use tower::service_fn;
use tower_bearer::{BearerAuthLayer, RequestClaimsExt};
use tower_layer::Layer;

use common::{AUDIENCE, Fixture, HttpClient, ISSUER};

#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
struct Tenant {
    tenant: String,
}

#[tokio::test]
async fn plain_hyper_server_with_extra_claims() {
    let fx = Fixture::new(Algorithm::ES256);
    let verifier = Verifier::builder(fx.ring.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(fx.clock.clone())
        .extra_claims::<Tenant>()
        .build()
        .unwrap();
    let handler = service_fn(|request: Request<hyper::body::Incoming>| async move {
        let tenant = request
            .claims::<Tenant>()
            .map(|claims| claims.extra.tenant.clone())
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(tenant))))
    });
    let service = BearerAuthLayer::new(verifier).layer(handler);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });

    let client = HttpClient::new(addr);
    let claims = Claims::for_subject("u").with_extra(Tenant {
        tenant: "acme".into(),
    });
    let token = fx.minter.mint(claims).unwrap().token;
    let reply = client.get_with_token("/", &token).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "acme")
    );
    assert_eq!(client.get("/").await.status, StatusCode::UNAUTHORIZED);
}
