//! Verification through keys fetched by `remote-keys`, against the same verifier over
//! a static key ring, same token, same run.
//!
//! ```sh
//! cargo bench -p bearer-benches --bench remote
//! ```
//!
//! A loopback server publishes one JWKS holding an ES256, an EdDSA and an RS256 key
//! with `Cache-Control: max-age=1`, so the source's background task refetches about
//! every second for the whole run (the set never changes, so it is never swapped).
//! The static ring is built from the same JWKS. Groups:
//!
//! - `remote-keys/verify/<alg>`: `static` and `remote`, `Verifier::verify` alone;
//! - `remote-keys/layer/ES256`: the tower layer, called in process, with and without
//!   the verified-token cache, over either ring (the remote one also wired with the
//!   source's unknown-`kid` refresher).

// A bench binary reports to its terminal and states expectations with unwrap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use remote_keys::{RemoteKeys, Source};
use token_core::{Algorithm, Claims, JwkSet, KeyRing, Minter, Scopes, SigningKey, Verifier};
use tower_bearer::BearerAuthLayer;
use tower_layer::Layer;
use tower_service::Service;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "reports-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../crates/token-core/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The inner service: says hello.
#[derive(Clone, Copy, Debug)]
struct Hello;

impl<B> Service<Request<B>> for Hello {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello")))))
    }
}

/// Calls `service` once, expecting the synchronous path (ready on first poll).
fn call_once<S>(service: &mut S, request: Request<()>) -> S::Response
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(result) => result.unwrap(),
        Poll::Pending => panic!("the benchmarked path must not wait"),
    }
}

/// `a` and `b` timed in alternating batches (about 10 ms each, the order swapped
/// every round), so load from other processes falls on both alike. Returns the
/// median time per call of each and the median of the per-round ratios `b / a`.
fn interleaved(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64, f64) {
    const ROUNDS: usize = 40;
    let calibrate = Instant::now();
    for _ in 0..20 {
        a();
    }
    let per_call = calibrate.elapsed().as_secs_f64() / 20.0;
    // Whole calls per ~10 ms batch; the estimate is positive and small.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let batch = ((0.010 / per_call) as usize).max(10);
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        start.elapsed().as_secs_f64() * 1e9 / batch as f64
    };
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (x, y) = if round % 2 == 0 {
            let x = time(&mut a);
            (x, time(&mut b))
        } else {
            let y = time(&mut b);
            (time(&mut a), y)
        };
        ta.push(x);
        tb.push(y);
        ratios.push(y / x);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut ta), median(&mut tb), median(&mut ratios))
}

/// Serves `jwks` with `Cache-Control: max-age=1` on a loopback port; the URL and a
/// count of requests.
async fn serve_jwks(jwks: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (jwks, counted) = (jwks.clone(), Arc::clone(&counted));
            let service = hyper::service::service_fn(move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
                let mut response = Response::new(Full::new(Bytes::from(jwks.clone())));
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=1"),
                );
                ready(Ok::<_, Infallible>(response))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, hits)
}

fn pretty(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn main() {
    let signing = [
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key(),
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .into_signing_key(),
        SigningKey::from_pem(Algorithm::RS256, fixture("rsa2048.pk8.pem")).unwrap(),
    ];
    let published = KeyRing::from_verifying_keys(signing.iter().map(|k| k.verifying_key().clone()))
        .unwrap()
        .to_jwks()
        .to_json();
    // The static ring: the very same document, read once.
    let (static_ring, skipped) =
        KeyRing::from_jwks(&JwkSet::from_json(published.as_bytes()).unwrap());
    assert!(skipped.is_empty());
    let static_ring = Arc::new(static_ring);

    // The remote source, its background task and the JWKS server on one worker
    // thread beside the bench's own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, hits) = runtime.block_on(serve_jwks(published));
    let remote = runtime
        .block_on(
            RemoteKeys::builder(Source::jwks_url(url))
                .min_refresh(Duration::from_secs(1))
                .start(),
        )
        .unwrap();
    let started = Instant::now();

    let claims = Claims::for_subject("user-8f14e45fceea167a")
        .with_scope(
            "me:read reports:read reports:write"
                .parse::<Scopes>()
                .unwrap(),
        )
        .with_version(3)
        .with_session("fam-7d3a1c9e5b2f4a60");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60)
        .configure_from_args();

    let mut ab: Vec<(String, (f64, f64, f64))> = Vec::new();
    for key in signing {
        let alg = key.algorithm();
        let minter = Minter::builder(key)
            .issuer(ISS)
            .audience(AUD)
            .ttl(Duration::from_secs(24 * 3600))
            .build()
            .unwrap();
        let token = minter.mint(claims.clone()).unwrap().token;
        let fixed = Verifier::builder(Arc::clone(&static_ring))
            .issuer(ISS)
            .audience(AUD)
            .build()
            .unwrap();
        let fetched = remote.verifier().issuer(ISS).audience(AUD).build().unwrap();
        fixed.verify(&token).unwrap();
        fetched.verify(&token).unwrap();

        let mut group = criterion.benchmark_group(format!("remote-keys/verify/{alg}"));
        group.bench_function("static", |b| {
            b.iter(|| black_box(fixed.verify(black_box(&token)).unwrap()));
        });
        group.bench_function("remote", |b| {
            b.iter(|| black_box(fetched.verify(black_box(&token)).unwrap()));
        });
        group.finish();
        ab.push((
            format!("verify {alg}"),
            interleaved(
                || {
                    black_box(fixed.verify(black_box(&token)).unwrap());
                },
                || {
                    black_box(fetched.verify(black_box(&token)).unwrap());
                },
            ),
        ));

        if alg != Algorithm::ES256 {
            continue;
        }
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let request = || {
            let mut request = Request::new(());
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization.clone());
            request
        };
        let mut layered = [
            (
                "static, no cache",
                BearerAuthLayer::builder(fixed.clone())
                    .no_token_cache()
                    .build()
                    .layer(Hello),
            ),
            (
                "remote, no cache",
                remote
                    .layer_builder(fetched.clone())
                    .no_token_cache()
                    .build()
                    .layer(Hello),
            ),
            (
                "static, cached",
                BearerAuthLayer::new(fixed.clone()).layer(Hello),
            ),
            ("remote, cached", remote.layer(fetched.clone()).layer(Hello)),
        ];
        let mut group = criterion.benchmark_group(format!("remote-keys/layer/{alg}"));
        for (name, service) in &mut layered {
            assert_eq!(call_once(service, request()).status(), 200);
            group.bench_function(*name, |b| {
                b.iter(|| black_box(call_once(service, request())));
            });
        }
        group.finish();
        let [
            (_, static_plain),
            (_, remote_plain),
            (_, static_cached),
            (_, remote_cached),
        ] = &mut layered;
        ab.push((
            format!("layer {alg}, no cache"),
            interleaved(
                || {
                    black_box(call_once(static_plain, request()));
                },
                || {
                    black_box(call_once(remote_plain, request()));
                },
            ),
        ));
        ab.push((
            format!("layer {alg}, cached"),
            interleaved(
                || {
                    black_box(call_once(static_cached, request()));
                },
                || {
                    black_box(call_once(remote_cached, request()));
                },
            ),
        ));
    }

    println!(
        "\ninterleaved A/B, median time per call (40 rounds of ~10 ms batches, order alternating):"
    );
    println!("| case | static | remote | remote / static |");
    println!("|---|---|---|---|");
    for (case, (a, b, ratio)) in &ab {
        println!("| {case} | {} | {} | {ratio:.4} |", pretty(*a), pretty(*b));
    }

    let status = remote.status();
    println!(
        "background refresh: {} JWKS requests in {:.1} s of benching ({} fetches by the source, {} failed in a row, keys {})",
        hits.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        status.fetches,
        status.consecutive_failures,
        status.keys,
    );
    criterion.final_summary();
}
