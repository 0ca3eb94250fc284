//! tower-bearer on a tonic gRPC server.
//!
//! `cargo run -p example-tonic` starts a `reports.Reports` service behind the
//! layer on 127.0.0.1:50051 (`PORT` to change it), calls it three times with a
//! tonic client (no token, a token without `reports:read`, a token with it) and
//! prints what came back. `cargo run -p example-tonic -- --serve` keeps serving.
//!
//! The messages are plain structs with `prost::Message` derived and the service is
//! written out by hand, so no `protoc` is needed at build time.
// An example talks to the person running it.
#![allow(clippy::print_stdout)]

mod reports;

use std::time::Duration;

use token_core::{Algorithm, Claims, KeyRing, Minter, SigningKey, Verifier};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tower_bearer::{BearerAuthLayer, RequireScopes};
use tower_layer::Layer;

use reports::{GetReport, ReportsClient, ReportsServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring =
        KeyRing::with_signing_key(SigningKey::generate(Algorithm::ES256)?.into_signing_key());
    let minter = Minter::builder(ring.clone())
        .issuer("https://auth.example")
        .audience("reports-grpc")
        .ttl(Duration::from_secs(3600))
        .build()?;
    let verifier = Verifier::builder(ring)
        .issuer("https://auth.example")
        .audience("reports-grpc")
        .build()?;

    let port = std::env::var("PORT").unwrap_or_else(|_| "50051".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(BearerAuthLayer::new(verifier))
        .add_service(RequireScopes::all(["reports:read"]).layer(ReportsServer))
        .serve_with_incoming(TcpIncoming::from(listener));
    let server = tokio::spawn(server);
    println!("gRPC reports.Reports on {addr}");

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let client = ReportsClient::new(channel);
    let viewer = minter
        .mint(Claims::for_subject("bob").with_scope("me:read".parse()?))?
        .token;
    let reader = minter
        .mint(Claims::for_subject("alice").with_scope("reports:read".parse()?))?
        .token;
    for (who, token) in [
        ("no token", None),
        ("bob, me:read", Some(viewer.as_str())),
        ("alice, reports:read", Some(reader.as_str())),
    ] {
        let request = GetReport { id: "q3".into() };
        match client.get(request, token).await {
            Ok(report) => println!("{who:>20}: OK {report:?}"),
            Err(status) => println!("{who:>20}: {:?} ({})", status.code(), status.message()),
        }
    }

    if std::env::args().any(|arg| arg == "--serve") {
        println!("serving until interrupted; a token with reports:read:\n{reader}");
        server.await??;
    }
    Ok(())
}
