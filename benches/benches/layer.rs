//! What tower-bearer costs, measured against its own floor in the same run.
//!
//! 1. In process (criterion): a tower service called directly, bare and behind the
//!    layer, with HS256 and ES256 tokens (ES256 cold, with the verified-token cache
//!    off, and cached), next to `Verifier::verify` alone for each algorithm. The
//!    layer's own overhead is `layer - bare - verify`.
//! 2. Over loopback: requests per second of a hyper 1 hello-world, bare and behind
//!    the layer, driven by `wrk` when installed, else by the bounded load generator
//!    below (N keep-alive HTTP/1.1 connections for a fixed time; rounds interleaved
//!    so drift hits all alike). The server has one worker per core and shares the
//!    machine with the load generator, as a server usually runs. Server CPU per
//!    request is read from `/proc/self/stat`; its ratio to the bare server's is the
//!    throughput a server-bound machine would keep.
//!
//! `cargo bench -p bearer-benches --bench layer`; `LOOPBACK_SECS` (default 3) and
//! `LOOPBACK_CONNS` (default 32) size the loopback part, `LOOPBACK_SECS=0` skips it,
//! `LOOPBACK_SERVER_THREADS` sets the server's worker threads (default: one per
//! core) and `LOOPBACK_CLIENT=builtin` avoids wrk.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use token_core::{Algorithm, Claims, KeyRing, Minter, SigningKey, Verifier};
use tower_bearer::{BearerAuthLayer, TokenCacheConfig};
use tower_layer::Layer;
use tower_service::Service;

/// The inner service: says hello, whatever the request body.
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

struct Setup {
    verifier: Verifier,
    token: String,
}

fn setup(alg: Algorithm) -> Setup {
    let key = match alg {
        Algorithm::HS256 => SigningKey::from_hmac_secret(alg, &[7; 32]).unwrap(),
        _ => SigningKey::generate(alg).unwrap().into_signing_key(),
    };
    let ring = KeyRing::with_signing_key(key);
    let minter = Minter::builder(ring.clone())
        .issuer("https://auth.bench")
        .audience("api")
        .ttl(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    let verifier = Verifier::builder(ring)
        .issuer("https://auth.bench")
        .audience("api")
        .build()
        .unwrap();
    let claims = Claims::for_subject("user-42").with_scope("me:read reports:read".parse().unwrap());
    let token = minter.mint(claims).unwrap().token;
    Setup { verifier, token }
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

fn request(authorization: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.clone());
    request
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

fn in_process(c: &mut Criterion) {
    let hs = setup(Algorithm::HS256);
    let es = setup(Algorithm::ES256);
    let hs_header = bearer(&hs.token);
    let es_header = bearer(&es.token);

    let mut group = c.benchmark_group("layer/in_process");
    group.bench_function("bare_service", |b| {
        let mut service = Hello;
        b.iter(|| black_box(call_once(&mut service, request(&hs_header))));
    });
    group.bench_function("verify_only/HS256", |b| {
        b.iter(|| black_box(hs.verifier.verify(black_box(&hs.token)).unwrap()));
    });
    group.bench_function("layered/HS256", |b| {
        // Every request verified: the layer's cost over a bare HS256 check.
        let layer = BearerAuthLayer::builder(hs.verifier.clone())
            .token_cache(TokenCacheConfig::default().include_symmetric(false))
            .build();
        let mut service = layer.layer(Hello);
        b.iter(|| {
            let response = call_once(&mut service, request(&hs_header));
            assert!(response.status().is_success());
            black_box(response)
        });
    });
    group.bench_function("layered/HS256_cached", |b| {
        // The default: HMAC tokens are cached too.
        let mut service = BearerAuthLayer::new(hs.verifier.clone()).layer(Hello);
        b.iter(|| {
            let response = call_once(&mut service, request(&hs_header));
            assert!(response.status().is_success());
            black_box(response)
        });
    });
    group.bench_function("verify_only/ES256", |b| {
        b.iter(|| black_box(es.verifier.verify(black_box(&es.token)).unwrap()));
    });
    group.bench_function("layered/ES256_cold", |b| {
        let layer = BearerAuthLayer::builder(es.verifier.clone())
            .no_token_cache()
            .build();
        let mut service = layer.layer(Hello);
        b.iter(|| {
            let response = call_once(&mut service, request(&es_header));
            assert!(response.status().is_success());
            black_box(response)
        });
    });
    group.bench_function("layered/ES256_cached", |b| {
        let mut service = BearerAuthLayer::new(es.verifier.clone()).layer(Hello);
        b.iter(|| {
            let response = call_once(&mut service, request(&es_header));
            assert!(response.status().is_success());
            black_box(response)
        });
    });
    group.finish();
}

/// Serves `service` over HTTP/1.1 on a loopback port from a runtime of its own
/// (`threads` workers; one means a current-thread runtime), until `stop` is set.
fn spawn_server<S, B>(
    service: S,
    stop: Arc<AtomicBool>,
    threads: usize,
) -> (SocketAddr, std::thread::JoinHandle<()>)
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let runtime = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
        }
        .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let accepted =
                    tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                let Ok(Ok((stream, _))) = accepted else {
                    continue;
                };
                stream.set_nodelay(true).unwrap();
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (addr, handle)
}

/// CPU time this process (the server, when wrk is the client) has used, in clock
/// ticks (user + system), from `/proc/self/stat`; 0 where that file does not exist.
fn process_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th
    // and 15th fields of the whole line, the 12th and 13th after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Which load generator drives the loopback runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    /// `wrk -t1`: C, so the client is never the bottleneck of a one-thread server.
    Wrk,
    /// The generator below: hyper's client on a one-thread runtime.
    Builtin,
}

impl Client {
    /// `LOOPBACK_CLIENT=wrk|builtin`; by default wrk when it is installed.
    fn from_env() -> Client {
        let wrk_installed = std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok();
        match std::env::var("LOOPBACK_CLIENT").as_deref() {
            Ok("builtin") => Client::Builtin,
            Ok("wrk") => Client::Wrk,
            _ if wrk_installed => Client::Wrk,
            _ => Client::Builtin,
        }
    }

    fn drive(
        self,
        addr: SocketAddr,
        authorization: &HeaderValue,
        conns: usize,
        duration: Duration,
    ) -> (u64, f64) {
        match self {
            Client::Builtin => drive(addr, Some(authorization.clone()), conns, duration),
            Client::Wrk => drive_wrk(addr, authorization, conns, duration),
        }
    }
}

/// Runs `wrk` (one thread, `conns` connections, bounded by `duration`) and reads
/// its request count and rate.
fn drive_wrk(
    addr: SocketAddr,
    authorization: &HeaderValue,
    conns: usize,
    duration: Duration,
) -> (u64, f64) {
    let output = std::process::Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-H")
        .arg(format!(
            "Authorization: {}",
            authorization.to_str().unwrap()
        ))
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "every answer must be 200:\n{text}"
    );
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("wrk reports a request count");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("wrk reports a rate");
    (requests, rps)
}

/// What one loopback run measured.
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    /// CPU time of this process per request, in microseconds: the server's alone
    /// when wrk is the client.
    server_us: f64,
}

/// The load generator: `conns` keep-alive connections, each sending requests one
/// after another for `duration`, from a one-thread runtime. Returns requests per
/// second; every answer must be 200.
fn drive(
    addr: SocketAddr,
    authorization: Option<HeaderValue>,
    conns: usize,
    duration: Duration,
) -> (u64, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let start = Instant::now();
        let deadline = start + duration;
        let mut tasks = Vec::with_capacity(conns);
        for _ in 0..conns {
            let authorization = authorization.clone();
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(connection);
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let mut request = Request::get("/").header(header::HOST, "bench");
                    if let Some(value) = &authorization {
                        request = request.header(header::AUTHORIZATION, value.clone());
                    }
                    let request = request.body(Empty::<Bytes>::new()).unwrap();
                    sender.ready().await.unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.into_body().collect().await.unwrap();
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0u64;
        for task in tasks {
            total += task.await.unwrap();
        }
        (total, total as f64 / start.elapsed().as_secs_f64())
    })
}

fn measure<S, B>(
    client: Client,
    threads: usize,
    service: S,
    authorization: HeaderValue,
    conns: usize,
    secs: u64,
) -> Run
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = spawn_server(service, Arc::clone(&stop), threads);
    let cpu_before = process_cpu_ticks();
    let (warm, _) = client.drive(addr, &authorization, conns, Duration::from_secs(1));
    let (measured, rps) = client.drive(addr, &authorization, conns, Duration::from_secs(secs));
    let ticks = process_cpu_ticks() - cpu_before;
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    let server_us = ticks as f64 * 10_000.0 / (warm + measured) as f64;
    Run { rps, server_us }
}

/// Loopback rounds per configuration; the median is reported.
const ROUNDS: usize = 5;

/// Runs every configuration `ROUNDS` times, interleaved, on servers with
/// `threads` worker threads, and prints medians with ratios to the bare server.
fn loopback(client: Client, threads: usize, secs: u64, conns: usize) {
    let hs = setup(Algorithm::HS256);
    let es = setup(Algorithm::ES256);
    let hs_layer = BearerAuthLayer::builder(hs.verifier.clone())
        .token_cache(TokenCacheConfig::default().include_symmetric(false))
        .build();
    let hs_cached_layer = BearerAuthLayer::new(hs.verifier.clone());
    let es_layer = BearerAuthLayer::new(es.verifier.clone());
    let (hs_header, es_header) = (bearer(&hs.token), bearer(&es.token));
    let run = |service, header: &HeaderValue| {
        measure(client, threads, service, header.clone(), conns, secs)
    };
    let mut runs: [Vec<Run>; 4] = Default::default();
    for _round in 0..ROUNDS {
        // The bare server gets the same header: parsing it is not the layer's cost.
        runs[0].push(measure(
            client,
            threads,
            Hello,
            hs_header.clone(),
            conns,
            secs,
        ));
        runs[1].push(run(hs_layer.layer(Hello), &hs_header));
        runs[2].push(run(es_layer.layer(Hello), &es_header));
        runs[3].push(run(hs_cached_layer.layer(Hello), &hs_header));
    }
    let median = |runs: &[Run], of: fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(of).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "layer/loopback: hyper 1 hello-world, {threads} server thread(s), load from {client:?}, {conns} HTTP/1.1 keep-alive connections, {secs} s x {ROUNDS} rounds, medians"
    );
    // Other work on the machine only ever slows a round down, so the best round
    // is the least disturbed one; the median is shown beside it.
    let best = |runs: &[Run]| runs.iter().map(|r| r.rps).fold(0.0, f64::max);
    let bare_rps = median(&runs[0], |r| r.rps);
    let bare_best = best(&runs[0]);
    let bare_us = median(&runs[0], |r| r.server_us);
    for (name, runs) in [
        ("bare", &runs[0]),
        ("layered HS256", &runs[1]),
        ("layered ES256 (cached)", &runs[2]),
        ("layered HS256 (cached)", &runs[3]),
    ] {
        let rps = median(runs, |r| r.rps);
        let top = best(runs);
        let us = median(runs, |r| r.server_us);
        let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rps)).collect();
        println!(
            "  {name:<24} median {rps:>7.0} req/s ({:>5.1}%)  best {top:>7.0} req/s ({:>5.1}%)  server CPU {us:>4.2} us/req ({:>5.1}%)  rounds [{}]",
            100.0 * rps / bare_rps,
            100.0 * top / bare_best,
            100.0 * bare_us / us,
            all.join(", ")
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    in_process(&mut criterion);
    criterion.final_summary();

    // `cargo test --benches` runs each bench once as a smoke test: skip the load.
    if std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = env("LOOPBACK_SECS", 3);
    let conns = usize::try_from(env("LOOPBACK_CONNS", 32)).unwrap_or(32);
    if secs > 0 {
        let client = Client::from_env();
        // As a hyper server is usually run: one worker per core, sharing the
        // machine with the load generator. `LOOPBACK_SERVER_THREADS=1` gives the
        // server one thread against a load generator on another core.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let threads = usize::try_from(env("LOOPBACK_SERVER_THREADS", 0))
            .ok()
            .filter(|&t| t > 0)
            .unwrap_or(cores);
        loopback(client, threads, secs, conns);
    }
}
