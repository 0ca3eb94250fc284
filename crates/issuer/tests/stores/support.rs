//! Real servers for the store tests: a database per run on the machine's PostgreSQL,
//! a key prefix per run on its Redis, temp files for SQLite, and private PostgreSQL
//! and Redis servers on free ports for the fault tests. Everything is removed on
//! drop, panics included.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, Executor};

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const REDIS: &str = "redis://127.0.0.1:6379";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other run (or test in this run) uses.
pub fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database of its own on the shared PostgreSQL, dropped (with its connections)
/// on drop.
pub struct PgDb {
    pub name: String,
    admin: String,
    host: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        PgDb::create_on(PG_ADMIN, "postgres://postgres@127.0.0.1:5432").await
    }

    pub async fn create_on(admin: &str, host: &str) -> PgDb {
        let name = unique("issuer_test");
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        conn.close().await.unwrap();
        PgDb {
            name,
            admin: admin.to_owned(),
            host: host.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside a runtime (or while unwinding): do the async work on a
        // thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
                    return;
                };
                let _ = conn
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await;
            });
        })
        .join();
    }
}

/// A key prefix of its own on the shared Redis; its keys are deleted on drop.
pub struct RedisPrefix {
    pub prefix: String,
    url: String,
}

impl RedisPrefix {
    pub fn new() -> RedisPrefix {
        RedisPrefix::on(REDIS)
    }

    pub fn on(url: &str) -> RedisPrefix {
        RedisPrefix {
            prefix: format!("{}:", unique("issuer-test")),
            url: url.to_owned(),
        }
    }

    /// A sub-prefix, for one store among several of a run.
    pub fn sub(&self) -> String {
        format!(
            "{}{}:",
            self.prefix,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Keys left under the prefix.
    pub fn keys(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return Vec::new();
        };
        let Ok(mut conn) = client.get_connection() else {
            return Vec::new();
        };
        let pattern = format!("{}*", self.prefix);
        redis::Commands::scan_match::<_, String>(&mut conn, pattern)
            .map(|keys| keys.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(client) = redis::Client::open(self.url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            for chunk in keys.chunks(500) {
                let _: Result<i64, _> = redis::Commands::del(&mut conn, chunk);
            }
        }
    }
}

/// A directory of its own under the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique("issuer-test"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite:{}", self.0.join(name).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A private PostgreSQL server on a free port (initdb'd for this test), which the
/// test may stop and start. As root it runs as the `postgres` user.
pub struct PrivatePg {
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

impl PrivatePg {
    pub fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut bins: Vec<PathBuf> = versions
                    .filter_map(|v| Some(v.ok()?.path().join("bin")))
                    .filter(|b| b.join("initdb").exists())
                    .collect();
                bins.sort();
                bins.pop()
            })
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        let dir = TempDir::new();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir.0)
                .status()
                .unwrap();
            assert!(status.success(), "chown the data directory");
        }
        let server = PrivatePg {
            port: free_port(),
            dir,
            bin,
            as_postgres,
        };
        server.run(
            "initdb",
            &[
                "-D",
                server.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
            ],
        );
        server.resume();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        let output = command.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn host_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.dir.0.display()
        );
        let log = self.dir.0.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        let _ = command
            .args(["-D"])
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A private Redis on a free port with an always-fsynced append-only file, so what
/// it acknowledged survives the test killing it.
pub struct PrivateRedis {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let mut server = PrivateRedis {
            port: free_port(),
            dir: TempDir::new(),
            child: None,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url().as_str())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server did not come up");
    }

    /// Kills the server (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
