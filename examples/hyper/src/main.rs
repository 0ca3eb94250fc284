//! tower-bearer on a plain hyper 1 server: no framework, one layer.
//!
//! `cargo run -p example-hyper` generates an ES256 key, prints a token and the
//! `curl` lines to try, and serves on 127.0.0.1:3000 (`PORT` to change it).
// An example talks to the person running it.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use token_core::{Algorithm, Claims, KeyRing, Minter, NoExtra, SigningKey, Verifier};
use tower::service_fn;
use tower_bearer::{BearerAuthLayer, RequestClaimsExt};
use tower_layer::Layer;

/// Answers with the subject of the verified token the layer left in the request.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let subject = request
        .claims::<NoExtra>()
        .and_then(|claims| claims.sub.clone())
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello, {subject}\n"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring =
        KeyRing::with_signing_key(SigningKey::generate(Algorithm::ES256)?.into_signing_key());
    let minter = Minter::builder(ring.clone())
        .issuer("https://auth.example")
        .audience("hello-api")
        .ttl(Duration::from_secs(3600))
        .build()?;
    let verifier = Verifier::builder(ring)
        .issuer("https://auth.example")
        .audience("hello-api")
        .build()?;

    let service = BearerAuthLayer::builder(verifier)
        .realm("hello")
        .build()
        .layer(service_fn(hello));

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let addr = listener.local_addr()?;
    let token = minter.mint(Claims::for_subject("alice"))?.token;
    println!("listening on http://{addr}");
    println!("  curl -i http://{addr}/");
    println!("  curl -i -H 'Authorization: Bearer {token}' http://{addr}/");

    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // A client that hangs up mid-request is not the server's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
