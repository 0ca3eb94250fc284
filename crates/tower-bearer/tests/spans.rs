//! What the layer tells `tracing`: one span per request with its outcome, client
//! failures at debug level, and never the token.
//!
//! Alone in its own test binary: `tracing` caches each callsite's interest
//! process-wide, and a test running in parallel on another thread without a
//! subscriber could register the layer's callsites as uninteresting first.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use http::{Request, Response, header};
use token_core::Algorithm;
use tower::{ServiceExt, service_fn};
use tower_bearer::BearerAuthLayer;
use tower_layer::Layer;

use common::Fixture;

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
