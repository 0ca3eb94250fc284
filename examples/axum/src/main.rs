//! tower-bearer on an axum router: `/me` for any valid token, `/reports` only for
//! tokens granted `reports:read`.
//!
//! `cargo run -p example-axum` generates an EdDSA key, prints two tokens (with and
//! without the scope) and the `curl` lines to try, and serves on 127.0.0.1:3001
//! (`PORT` to change it).
// An example talks to the person running it.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use token_core::{Algorithm, Claims, KeyRing, Minter, Scopes, SigningKey, Verifier};
use tower_bearer::axum::Claims as Verified;
use tower_bearer::{BearerAuthLayer, RequireScopes};

async fn me(Verified(claims): Verified) -> String {
    format!(
        "you are {} with scopes [{}]\n",
        claims.sub.unwrap_or_default(),
        claims.scope
    )
}

async fn reports(Verified(claims): Verified) -> String {
    format!("quarterly reports for {}\n", claims.sub.unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring =
        KeyRing::with_signing_key(SigningKey::generate(Algorithm::EdDSA)?.into_signing_key());
    let minter = Minter::builder(ring.clone())
        .issuer("https://auth.example")
        .audience("reports-api")
        .ttl(Duration::from_secs(3600))
        .build()?;
    let verifier = Verifier::builder(ring)
        .issuer("https://auth.example")
        .audience("reports-api")
        .build()?;

    let app = Router::new()
        .route("/me", get(me))
        .route(
            "/reports",
            get(reports).route_layer(RequireScopes::all(["reports:read"])),
        )
        .layer(BearerAuthLayer::builder(verifier).realm("reports").build());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let addr = listener.local_addr()?;
    let reader: Scopes = "me:read reports:read".parse()?;
    let reader = minter
        .mint(Claims::for_subject("alice").with_scope(reader))?
        .token;
    let viewer = minter
        .mint(Claims::for_subject("bob").with_scope("me:read".parse()?))?
        .token;
    println!("listening on http://{addr}");
    println!("  curl -i http://{addr}/me                      # 401, no error code");
    println!(
        "  curl -i -H 'Authorization: Bearer {viewer}' http://{addr}/reports   # 403 insufficient_scope"
    );
    println!("  curl -i -H 'Authorization: Bearer {reader}' http://{addr}/reports   # 200");
    axum::serve(listener, app).await?;
    Ok(())
}
