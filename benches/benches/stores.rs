//! The persistent stores: refreshes per second through each backend's
//! `SessionStore::rotate`, next to that backend's own floor measured in the same run
//! through the same connections:
//!
//! - SQLite: a bare single-row `UPDATE` (autocommit) through the store's write pool;
//! - PostgreSQL: a single-row `UPDATE ... RETURNING` through the store's pool;
//! - Redis: a bare `EVALSHA` of `return 1` on the store's connection.
//!
//! Then refreshes per second through `Issuer::refresh` (HS256 access tokens,
//! throttling off) on each backend, for context. Round trips per refresh are counted
//! at concurrency 1: the process's write syscalls per operation (one request per
//! round trip; PostgreSQL and Redis), and for Redis the commands the server
//! processed per operation.
//!
//! `cargo bench -p bearer-benches --bench stores`. Needs the PostgreSQL and Redis of
//! `scripts/services` (it makes its own database and key prefix and removes them).
//! `STORES_LOAD_SECS` (default 5) is the length of each load phase,
//! `STORES_TASKS` (default 16) the number of concurrent tasks, `STORES_ROUNDS`
//! (default 3) how many times floor and store phases alternate, `STORES_BACKENDS`
//! (default `sqlite,postgres,redis`) which backends run.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use issuer::store::postgres::PgStore;
use issuer::store::redis::RedisStore;
use issuer::store::sqlite::SqliteStore;
use issuer::store::{StoreConfig, Stores};
use issuer::{
    Family, Issuer, PasswordPolicy, RequestMeta, RotateOutcome, RotateRequest, SessionStore,
    ThrottlePolicy,
};
use sqlx::{AssertSqlSafe, Connection, Executor};
use token_core::{Algorithm, Scopes, SigningKey};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS: &str = "redis://127.0.0.1:6379";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type Op = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs `op(task)` from `tasks` tasks for `secs`; returns operations per second,
/// and the CPU microseconds per operation of this process and of `server`.
async fn load_cpu(op: &Op, tasks: usize, secs: u64, server: Option<&str>) -> (f64, f64, f64) {
    let (own0, srv0) = (cpu_ticks("self"), server.map_or(0, cpu_ticks));
    let start = Instant::now();
    let rate = load(op, tasks, secs).await;
    let ops = rate * start.elapsed().as_secs_f64();
    let per_op = |ticks: u64| ticks as f64 * 10_000.0 / ops;
    (
        rate,
        per_op(cpu_ticks("self") - own0),
        per_op(server.map_or(0, cpu_ticks) - srv0),
    )
}

/// Runs `op(task)` from `tasks` tasks for `secs`; returns operations per second.
async fn load(op: &Op, tasks: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (op, stop, count) = (Arc::clone(op), Arc::clone(&stop), Arc::clone(&count));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    op(task).await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    for handle in handles {
        handle.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// CPU time (user + system) of process `pid` ("self" for this one) so far, in
/// clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // After the parenthesised name: utime and stime are fields 14 and 15.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// This process's write syscalls so far.
fn write_syscalls() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("syscw: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Write syscalls per operation, one operation at a time (task 0).
async fn writes_per_op(op: &Op, n: u64) -> f64 {
    op(0).await;
    let before = write_syscalls();
    for _ in 0..n {
        op(0).await;
    }
    (write_syscalls() - before) as f64 / n as f64
}

fn family(id: &str, now: i64) -> Family {
    let mut f = issuer::conformance::sample_family(id, &format!("user-{id}"), now);
    f.absolute_expires = now + 30 * 24 * 3600;
    f.idle_expires = now + 7 * 24 * 3600;
    f
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A rotate operation per task on its own family, presenting the current generation.
async fn rotate_op(store: Arc<dyn SessionStore>, tasks: usize, tag: &str) -> Op {
    let created = now();
    let generations: Arc<Vec<AtomicU64>> =
        Arc::new((0..tasks).map(|_| AtomicU64::new(1)).collect());
    for task in 0..tasks {
        store
            .create(&family(&format!("{tag}-{task}"), created))
            .await
            .unwrap();
    }
    let tag = tag.to_owned();
    Arc::new(move |task| {
        let (store, generations, id) = (
            Arc::clone(&store),
            Arc::clone(&generations),
            format!("{tag}-{task}"),
        );
        Box::pin(async move {
            let presented = generations[task].load(Ordering::Relaxed);
            let outcome = store
                .rotate(RotateRequest {
                    family_id: &id,
                    presented,
                    now: now(),
                    idle_ttl: 7 * 24 * 3600,
                    grace: 10,
                    max_replays: 64,
                })
                .await
                .unwrap();
            let RotateOutcome::Rotated(f) = outcome else {
                panic!("rotates: {outcome:?}");
            };
            generations[task].store(f.generation, Ordering::Relaxed);
        })
    })
}

/// Refreshes through a whole issuer (in process), each task its own session.
async fn issuer_op(stores: Stores, tasks: usize) -> Op {
    let issuer = Issuer::builder()
        .signing_key(
            SigningKey::generate(Algorithm::HS256)
                .unwrap()
                .into_signing_key(),
        )
        .password_policy(PasswordPolicy::INSECURE_FAST)
        .throttle(ThrottlePolicy::DISABLED)
        .stores(stores)
        .build()
        .unwrap();
    let login = format!("bench-{}", std::process::id());
    issuer
        .add_user(&login, "pw", Scopes::empty())
        .await
        .unwrap();
    let meta = RequestMeta::default();
    let mut tokens = Vec::new();
    for _ in 0..tasks {
        let issued = issuer
            .login(&login, "pw", &Scopes::empty(), None, &meta)
            .await
            .unwrap();
        tokens.push(std::sync::Mutex::new(
            issued.refresh.unwrap().token.expose().to_owned(),
        ));
    }
    let tokens = Arc::new(tokens);
    Arc::new(move |task| {
        let (issuer, tokens) = (issuer.clone(), Arc::clone(&tokens));
        Box::pin(async move {
            let token = tokens[task].lock().unwrap().clone();
            let next = issuer
                .refresh(&token, &Scopes::empty(), &RequestMeta::default())
                .await
                .unwrap();
            *tokens[task].lock().unwrap() = next.refresh.unwrap().token.expose().to_owned();
        })
    })
}

struct Row {
    backend: &'static str,
    /// CPU µs per op in the last round: (client, server) for floor and rotate.
    cpu: Option<((f64, f64), (f64, f64))>,
    floor: Vec<f64>,
    rotate: Vec<f64>,
    issuer: f64,
    floor_writes: Option<f64>,
    rotate_writes: Option<f64>,
    issuer_writes: Option<f64>,
    server_commands: Option<(f64, f64)>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn measure(
    backend: &'static str,
    floor: Op,
    rotate: Op,
    issuer: Op,
    count_writes: bool,
    redis_commands: Option<redis::aio::ConnectionManager>,
    server_pid: Option<String>,
) -> Row {
    let (secs, tasks, rounds) = (
        env("STORES_LOAD_SECS", 5),
        env("STORES_TASKS", 16) as usize,
        env("STORES_ROUNDS", 3),
    );
    // Warm both up, then alternate so drift hits both alike.
    load(&floor, tasks, 1).await;
    load(&rotate, tasks, 1).await;
    let (mut floors, mut rotates) = (Vec::new(), Vec::new());
    let mut cpu = None;
    for _ in 0..rounds {
        let (f, fc, fs) = load_cpu(&floor, tasks, secs, server_pid.as_deref()).await;
        let (r, rc, rs) = load_cpu(&rotate, tasks, secs, server_pid.as_deref()).await;
        floors.push(f);
        rotates.push(r);
        cpu = Some(((fc, fs), (rc, rs)));
    }
    let issuer_rate = load(&issuer, tasks, secs).await;
    let (floor_writes, rotate_writes, issuer_writes) = if count_writes {
        (
            Some(writes_per_op(&floor, 2000).await),
            Some(writes_per_op(&rotate, 2000).await),
            Some(writes_per_op(&issuer, 1000).await),
        )
    } else {
        (None, None, None)
    };
    let server_commands = match redis_commands {
        Some(mut conn) => {
            let mut per_op = Vec::new();
            for op in [&floor, &rotate] {
                let before = script_calls(&mut conn).await;
                for _ in 0..2000 {
                    op(0).await;
                }
                per_op.push((script_calls(&mut conn).await - before) as f64 / 2000.0);
            }
            Some((per_op[0], per_op[1]))
        }
        None => None,
    };
    Row {
        backend,
        cpu,
        floor: floors,
        rotate: rotates,
        issuer: issuer_rate,
        floor_writes,
        rotate_writes,
        issuer_writes,
        server_commands,
    }
}

/// `EVALSHA` and `EVAL` requests the server has executed (from `INFO commandstats`;
/// the commands a script runs inside count under their own names).
async fn script_calls(conn: &mut redis::aio::ConnectionManager) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn sqlite_row(tasks: usize) -> Row {
    let dir = std::env::temp_dir().join(format!("issuer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("bench.db").display());
    let store = SqliteStore::open(&StoreConfig::new(&url)).await.unwrap();
    let pool = store.pool().clone();
    pool.execute("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .await
        .unwrap();
    for id in 0..tasks {
        sqlx::query("INSERT INTO bench_floor (id, n) VALUES (?, 0)")
            .bind(id as i64)
            .execute(&pool)
            .await
            .unwrap();
    }
    let floor: Op = Arc::new(move |task| {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query("UPDATE bench_floor SET n = n + 1 WHERE id = ?")
                .bind(task as i64)
                .execute(&pool)
                .await
                .unwrap();
        })
    });
    let rotate = rotate_op(Arc::new(store.clone()), tasks, "sqlite").await;
    let issuer = issuer_op(
        issuer::store::open(&StoreConfig::new(format!(
            "sqlite:{}",
            dir.join("issuer.db").display()
        )))
        .await
        .unwrap(),
        tasks,
    )
    .await;
    let row = measure(
        "SQLite (file, WAL)",
        floor,
        rotate,
        issuer,
        false,
        None,
        None,
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    row
}

async fn postgres_row(tasks: usize) -> Row {
    let name = format!("issuer_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let row = async {
        let store = PgStore::open(&StoreConfig::new(&url).max_connections(tasks as u32))
            .await
            .unwrap();
        let pool = store.pool().clone();
        pool.execute("CREATE TABLE bench_floor (id bigint PRIMARY KEY, n bigint NOT NULL)")
            .await
            .unwrap();
        pool.execute(AssertSqlSafe(format!(
            "INSERT INTO bench_floor SELECT g, 0 FROM generate_series(0, {tasks}) g"
        )))
        .await
        .unwrap();
        let floor: Op = Arc::new(move |task| {
            let pool = pool.clone();
            Box::pin(async move {
                let _: i64 = sqlx::query_scalar(
                    "UPDATE bench_floor SET n = n + 1 WHERE id = $1 RETURNING n",
                )
                .bind(task as i64)
                .fetch_one(&pool)
                .await
                .unwrap();
            })
        });
        let rotate = rotate_op(Arc::new(store.clone()), tasks, "pg").await;
        let issuer = issuer_op(
            issuer::store::open(
                &StoreConfig::new(&url)
                    .schema("issuer_bench")
                    .max_connections(tasks as u32),
            )
            .await
            .unwrap(),
            tasks,
        )
        .await;
        measure("PostgreSQL", floor, rotate, issuer, true, None, None).await
    }
    .await;
    admin
        .execute(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .await
        .unwrap();
    row
}

async fn redis_row(tasks: usize) -> Row {
    let prefix = format!("issuer-bench:{}:", std::process::id());
    let store = RedisStore::open(&StoreConfig::new(REDIS).key_prefix(&prefix))
        .await
        .unwrap();
    let trivial = Arc::new(redis::Script::new("return 1"));
    let conn = store.connection();
    let floor: Op = Arc::new(move |_| {
        let (script, mut conn) = (Arc::clone(&trivial), conn.clone());
        Box::pin(async move {
            let _: i64 = script.invoke_async(&mut conn).await.unwrap();
        })
    });
    let rotate = rotate_op(Arc::new(store.clone()), tasks, "redis").await;
    let issuer = issuer_op(
        issuer::store::open(
            &StoreConfig::new(REDIS)
                .users_url("memory:")
                .key_prefix(format!("{prefix}issuer:")),
        )
        .await
        .unwrap(),
        tasks,
    )
    .await;
    let mut conn = store.connection();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .map(|p| p.trim().to_owned());
    let row = measure(
        "Redis",
        floor,
        rotate,
        issuer,
        true,
        Some(store.connection()),
        pid,
    )
    .await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    row
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    let tasks = env("STORES_TASKS", 16) as usize;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let only = std::env::var("STORES_BACKENDS").unwrap_or_else(|_| "sqlite,postgres,redis".into());
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        if only.contains("sqlite") {
            rows.push(sqlite_row(tasks).await);
        }
        if only.contains("postgres") {
            rows.push(postgres_row(tasks).await);
        }
        if only.contains("redis") {
            rows.push(redis_row(tasks).await);
        }
        rows
    });
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "stores: {tasks} concurrent tasks, {} s phases, {} rounds; load average before {} after {}",
        env("STORES_LOAD_SECS", 5),
        env("STORES_ROUNDS", 3),
        load_before.split_whitespace().next().unwrap_or("?"),
        load_after.split_whitespace().next().unwrap_or("?"),
    );
    println!(
        "| backend | floor /s (median) | rotate /s (median) | rotate / floor | issuer refresh /s | rounds floor | rounds rotate |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        let (floor, rotate) = (median(&row.floor), median(&row.rotate));
        println!(
            "| {} | {:.0} | {:.0} | {:.0}% | {:.0} | {:?} | {:?} |",
            row.backend,
            floor,
            rotate,
            100.0 * rotate / floor,
            row.issuer,
            row.floor.iter().map(|v| v.round()).collect::<Vec<_>>(),
            row.rotate.iter().map(|v| v.round()).collect::<Vec<_>>(),
        );
    }
    println!();
    println!("CPU per operation, last round (bench process / server process):");
    for row in &rows {
        if let Some(((fc, fs), (rc, rs))) = row.cpu {
            println!(
                "  {}: floor {fc:.1} µs / {fs:.1} µs, rotate {rc:.1} µs / {rs:.1} µs",
                row.backend
            );
        }
    }
    println!();
    println!("round trips, one operation at a time:");
    for row in &rows {
        if let (Some(f), Some(r), Some(i)) =
            (row.floor_writes, row.rotate_writes, row.issuer_writes)
        {
            println!(
                "  {}: write syscalls per op: floor {f:.2}, rotate {r:.2}, issuer refresh {i:.2}",
                row.backend
            );
        }
        if let Some((f, r)) = row.server_commands {
            println!(
                "  {}: EVALSHA requests the server executed per op: floor {f:.2}, rotate {r:.2}",
                row.backend
            );
        }
    }
}
