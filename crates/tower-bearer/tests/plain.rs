//! The layer without axum: on a plain hyper 1 server over TCP, with the caller's
//! own extra claims, and what it tells `tracing` (an outcome per request, never the
//! token).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use token_core::{Algorithm, Claims, Verifier};
use tower::{ServiceExt, service_fn};
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

/// Collects what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_span_per_request_with_the_outcome_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fx = Fixture::new(Algorithm::HS256);
    let hello = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let service = BearerAuthLayer::new(fx.verifier.clone()).layer(hello);
    let call = |authorization: Option<String>| {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, value.parse().unwrap());
        }
        service.clone().oneshot(request)
    };
    let token = fx.token("alice", "");
    call(Some(format!("Bearer {token}"))).await.unwrap();
    call(None).await.unwrap();
    let (signed, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.AAAA");
    call(Some(format!("Bearer {forged}"))).await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = log.lines().filter(|l| l.contains("close")).collect();
    assert_eq!(closes.len(), 3, "{log}");
    assert!(closes[0].contains("bearer_auth{outcome=\"ok\"}"), "{log}");
    assert!(closes[1].contains("outcome=\"missing\""), "{log}");
    assert!(
        closes[2].contains("outcome=\"invalid_token\" reason=\"invalid_signature\""),
        "{log}"
    );
    assert!(
        log.contains("DEBUG"),
        "client failures are debug events: {log}"
    );
    assert!(!log.contains(signed), "the token never reaches the logs");
    assert!(!log.contains(&token[..20]), "not even its header");
}
