//! The issuer: refreshes per second (HS256 and EdDSA access tokens) and logins per
//! second, in process and over loopback with the memory store, next to the raw
//! argon2id hash rate measured in the same run; and refresh p99 latency while logins
//! saturate the CPU, against its idle p99, for each hashing-thread priority.
//!
//! `cargo bench -p bearer-benches --bench issuer`. The criterion part measures single
//! operations; the load part after it runs bounded, timed loads (a few seconds each)
//! and prints one summary table. `ISSUER_LOAD_SECS` sets the length of each load
//! phase (default 5; 0 skips the load part).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm as ArgonAlg, Argon2, Block, Params, Version};
use bytes::Bytes;
use criterion::Criterion;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use issuer::{
    ClientAddr, HashPriority, Issuer, PasswordPolicy, RefreshTransport, RequestMeta, ThrottlePolicy,
};
use token_core::{Algorithm, Scopes, SigningKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tower_service::Service;

const PASSWORD: &str = "correct horse battery staple";

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()
        .unwrap()
}

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap().into_signing_key()
}

/// A memory-store issuer with throttling off (every load comes from one address)
/// and the body transport, with user `bench`.
fn issuer(rt: &Runtime, alg: Algorithm, priority: HashPriority) -> Issuer {
    let issuer = Issuer::builder()
        .signing_key(key(alg))
        .issuer_url("https://auth.example")
        .audience("api")
        .transport(RefreshTransport::Body)
        .throttle(ThrottlePolicy::DISABLED)
        .password_policy(PasswordPolicy::OWASP)
        .hash_priority(priority)
        .build()
        .unwrap();
    rt.block_on(issuer.add_user("bench", PASSWORD, "a b".parse().unwrap()))
        .unwrap();
    issuer
}

fn owasp() -> Argon2<'static> {
    let p = PasswordPolicy::OWASP;
    Argon2::new(
        ArgonAlg::Argon2id,
        Version::V0x13,
        Params::new(p.memory_kib, p.iterations, p.parallelism, None).unwrap(),
    )
}

/// One argon2id hash through the crate's plain API (which allocates and zeroes its
/// memory every time), or into `memory` reused from the previous hash.
fn raw_hash(argon: &Argon2<'_>, memory: Option<&mut Vec<Block>>) {
    let mut out = [0u8; 32];
    let (pwd, salt) = (PASSWORD.as_bytes(), b"saltsaltsaltsalt");
    match memory {
        None => argon.hash_password_into(pwd, salt, &mut out).unwrap(),
        Some(memory) => argon
            .hash_password_into_with_memory(pwd, salt, &mut out, memory.as_mut_slice())
            .unwrap(),
    }
    std::hint::black_box(out);
}

fn owasp_memory() -> Vec<Block> {
    let p = PasswordPolicy::OWASP;
    vec![
        Block::new();
        Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .unwrap()
            .block_count()
    ]
}

fn criterion_benches(c: &mut Criterion) {
    let rt = runtime();
    let meta = RequestMeta::default();
    let mut group = c.benchmark_group("issuer");
    for alg in [Algorithm::HS256, Algorithm::EdDSA] {
        let issuer = issuer(&rt, alg, HashPriority::Low);
        let login = rt
            .block_on(issuer.login("bench", PASSWORD, &Scopes::empty(), None, &meta))
            .unwrap();
        let mut token = login.refresh.unwrap().token;
        group.bench_function(format!("refresh_in_process/{alg}"), |b| {
            b.iter(|| {
                let issued = rt
                    .block_on(issuer.refresh(token.expose(), &Scopes::empty(), &meta))
                    .unwrap();
                token = issued.refresh.unwrap().token;
            });
        });
    }
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    let argon = owasp();
    group.bench_function("argon2id_raw_hash", |b| b.iter(|| raw_hash(&argon, None)));
    let mut memory = owasp_memory();
    group.bench_function("argon2id_raw_hash_reused_memory", |b| {
        b.iter(|| raw_hash(&argon, Some(&mut memory)));
    });
    for priority in [HashPriority::Low, HashPriority::Normal] {
        let issuer = issuer(&rt, Algorithm::EdDSA, priority);
        group.bench_function(format!("login_in_process/EdDSA/{priority:?}"), |b| {
            b.iter(|| {
                rt.block_on(issuer.login("bench", PASSWORD, &Scopes::empty(), None, &meta))
                    .unwrap()
            });
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------
// Load runs.

fn phase() -> Duration {
    let secs = std::env::var("ISSUER_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// Raw argon2id hashes per second with one thread per core.
fn raw_hash_rate(duration: Duration, reuse_memory: bool) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..cores())
        .map(|_| {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                let argon = owasp();
                let mut memory = owasp_memory();
                while !stop.load(Ordering::Relaxed) {
                    raw_hash(&argon, reuse_memory.then_some(&mut memory));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Logins per second, in process, with enough concurrent logins to keep every
/// hashing worker busy.
fn login_rate_in_process(rt: &Runtime, issuer: &Issuer, duration: Duration) -> f64 {
    rt.block_on(async {
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let tasks: Vec<_> = (0..4 * cores())
            .map(|_| {
                let issuer = issuer.clone();
                tokio::spawn(async move {
                    let meta = RequestMeta::default();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        issuer
                            .login("bench", PASSWORD, &Scopes::empty(), None, &meta)
                            .await
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

async fn serve(issuer: Issuer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = issuer.service();
            tokio::spawn(async move {
                let svc = service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    service.clone().call(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn { sender }
    }

    async fn post(&mut self, path: &str, content_type: &str, body: String) -> (u16, Bytes) {
        self.sender.ready().await.unwrap();
        let request = Request::post(path)
            .header("host", "bench")
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    async fn login(&mut self) -> String {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("username", "bench"), ("password", PASSWORD)])
            .finish();
        let (status, body) = self
            .post("/token", "application/x-www-form-urlencoded", form)
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        field(&body, "refresh_token")
    }

    async fn refresh(&mut self, token: &str) -> String {
        let body = serde_json::json!({ "refresh_token": token }).to_string();
        let (status, body) = self.post("/refresh", "application/json", body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        field(&body, "refresh_token")
    }
}

fn field(body: &[u8], name: &str) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value[name].as_str().unwrap().to_owned()
}

/// Closed-loop refreshes over `clients` keep-alive connections, each with its own
/// family, pausing `pause` between requests. Returns (refreshes per second, latencies).
async fn refresh_load(
    addr: SocketAddr,
    clients: usize,
    pause: Duration,
    duration: Duration,
) -> (f64, Vec<Duration>) {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut token = conn.login().await;
            let mut latencies = Vec::new();
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let start = Instant::now();
                token = conn.refresh(&token).await;
                latencies.push(start.elapsed());
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            latencies
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    // Each client's own login is outside its timed loop; the rate is over the loop.
    let elapsed = start.elapsed().as_secs_f64().max(duration.as_secs_f64());
    (all.len() as f64 / elapsed, all)
}

/// Closed-loop logins over keep-alive connections until `stop`.
fn spawn_login_load(
    addr: SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                while !stop.load(Ordering::Relaxed) {
                    conn.login().await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

/// How busy the rest of the machine was during a phase: the share of all CPU time
/// used by other processes (from `/proc`; `None` where there is no `/proc`). The
/// machine is shared, so every figure is printed with it.
struct Foreign {
    start: Option<(u64, u64, u64)>,
}

impl Foreign {
    fn start() -> Foreign {
        Foreign {
            start: cpu_sample(),
        }
    }

    fn share(&self) -> String {
        match (self.start, cpu_sample()) {
            (Some((t0, b0, s0)), Some((t1, b1, s1))) if t1 > t0 => {
                let foreign = (b1 - b0).saturating_sub(s1 - s0);
                format!(
                    "other processes {:.0}%",
                    100.0 * foreign as f64 / (t1 - t0) as f64
                )
            }
            _ => "other processes unknown".to_owned(),
        }
    }
}

/// (total ticks, busy ticks) of the machine and this process's own ticks.
fn cpu_sample() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = own.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let own_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((total, total - idle, own_ticks))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn load_runs() {
    let duration = phase();
    if duration.is_zero() {
        return;
    }
    let rt = runtime();
    println!(
        "\n## issuer load runs ({} cores, {} s per phase)\n",
        cores(),
        duration.as_secs()
    );

    let plain = raw_hash_rate(duration, false);
    let probe = Foreign::start();
    let raw = raw_hash_rate(duration, true);
    println!(
        "raw argon2id (m=19456 KiB, t=2, p=1), {} threads: {raw:.1} hashes/s with memory reused \
         ({plain:.1}/s through the argon2 crate's allocating API); ratios below are against {raw:.1} [{}]",
        cores(),
        probe.share()
    );

    let inproc_issuer = issuer(&rt, Algorithm::EdDSA, HashPriority::Low);
    let probe = Foreign::start();
    let logins = login_rate_in_process(&rt, &inproc_issuer, duration);
    drop(inproc_issuer);
    println!(
        "logins in process (EdDSA): {logins:.1}/s = {:.1}% of the raw hash rate [{}]",
        100.0 * logins / raw,
        probe.share()
    );

    let loop_issuer = issuer(&rt, Algorithm::EdDSA, HashPriority::Low);
    let probe = Foreign::start();
    let loop_logins = rt.block_on(async {
        let addr = serve(loop_issuer.clone()).await;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let tasks = spawn_login_load(addr, 4 * cores(), Arc::clone(&stop), Arc::clone(&count));
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    });
    drop(loop_issuer);
    println!(
        "logins over loopback (EdDSA): {loop_logins:.1}/s = {:.1}% of the raw hash rate [{}]",
        100.0 * loop_logins / raw,
        probe.share()
    );

    for alg in [Algorithm::HS256, Algorithm::EdDSA] {
        let issuer = issuer(&rt, alg, HashPriority::Low);
        let probe = Foreign::start();
        let (rate, mut lat) = rt.block_on(async {
            let addr = serve(issuer.clone()).await;
            refresh_load(addr, 4 * cores(), Duration::ZERO, duration).await
        });
        lat.sort();
        println!(
            "refreshes over loopback ({alg}, {} connections): {rate:.0}/s, p50 {:.3} ms, p99 {:.3} ms [{}]",
            4 * cores(),
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
            probe.share()
        );
    }

    // Refresh latency alone, then while logins saturate every core.
    for priority in [HashPriority::Low, HashPriority::Idle, HashPriority::Normal] {
        let issuer = issuer(&rt, Algorithm::EdDSA, priority);
        let probe = Foreign::start();
        let (idle, loaded, login_rate) = rt.block_on(async {
            let addr = serve(issuer.clone()).await;
            let pause = Duration::from_millis(2);
            let (_, mut idle) = refresh_load(addr, 2, pause, duration).await;
            let stop = Arc::new(AtomicBool::new(false));
            let count = Arc::new(AtomicU64::new(0));
            let logins = spawn_login_load(addr, 4 * cores(), Arc::clone(&stop), Arc::clone(&count));
            // Let the hashing workers fill up first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = count.load(Ordering::Relaxed);
            let start = Instant::now();
            let (_, mut loaded) = refresh_load(addr, 2, pause, duration).await;
            let login_rate =
                (count.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for t in logins {
                t.await.unwrap();
            }
            idle.sort();
            loaded.sort();
            (idle, loaded, login_rate)
        });
        let (idle99, loaded99) = (percentile(&idle, 0.99), percentile(&loaded, 0.99));
        println!(
            "refresh p99 with hashing at {priority:?} priority: idle {:.3} ms (p50 {:.3}), \
             under login saturation {:.3} ms (p50 {:.3}; {login_rate:.1} logins/s) = {:.2}x idle [{}]",
            ms(idle99),
            ms(percentile(&idle, 0.50)),
            ms(loaded99),
            ms(percentile(&loaded, 0.50)),
            loaded99.as_secs_f64() / idle99.as_secs_f64(),
            probe.share()
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this binary in test mode: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    load_runs();
}
