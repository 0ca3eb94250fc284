//! Two `bearer serve` instances sharing one PostgreSQL database, then one Redis (with
//! users in SQLite), as a deployment of many instances would: a session started at
//! one refreshes at the other, and a password change made with the CLI ends the
//! earlier tokens at both. Each run gets its own database or key prefix and removes
//! it afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{Workdir, eventually};

const PROPAGATION: Duration = Duration::from_secs(10);

fn unique(kind: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "bearer_e2e_{kind}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PostgreSQL database of its own, dropped (connections and all) on drop.
struct Database(String);

impl Database {
    fn create() -> Self {
        let name = unique("pg");
        psql(&format!("CREATE DATABASE {name}"));
        Database(name)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
    }
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql: {sql}");
}

/// A Redis key prefix of its own; its keys are deleted on drop.
struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        let keys = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "--scan",
                "--pattern",
                &format!("{}*", self.0),
            ])
            .output()
            .expect("redis-cli runs");
        for key in String::from_utf8_lossy(&keys.stdout).lines() {
            let _ = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "DEL", key])
                .output();
        }
    }
}

/// Two instances over the store `work` is configured with.
fn two_instances_share_sessions_and_epochs(work: &Workdir) {
    work.add_user("alice", "first password", "me:read");
    let a = work.serve();
    let b = work.serve();
    assert_ne!(a.addr, b.addr);

    let login = a.login("alice", "first password", &[]);
    let refreshed = b.post_form(
        "/auth/refresh",
        &[("refresh_token", &login.field("refresh_token"))],
        &[],
    );
    assert_eq!(
        refreshed.status,
        200,
        "refresh at the other instance: {}",
        refreshed.text()
    );
    let access = refreshed.field("access_token");
    assert_eq!(a.get("/me", Some(&access)).status, 200);
    assert_eq!(b.get("/me", Some(&access)).status, 200);

    let output = work.run_with(
        &["user", "passwd", "alice", "--password-stdin"],
        &[],
        "second password\n",
    );
    support::assert_success(&output, &["user", "passwd"]);
    for server in [&a, &b] {
        assert!(
            eventually(PROPAGATION, || server.get("/me", Some(&access)).status
                == 401),
            "an instance kept accepting a token from before the password change"
        );
    }
    b.login("alice", "second password", &[]);
}

#[test]
fn postgres() {
    let db = Database::create();
    let work = Workdir::new("postgres");
    work.configure(&format!("store = \"{}\"\n", db.url()));
    two_instances_share_sessions_and_epochs(&work);
    drop(work);
}

#[test]
fn redis_with_users_in_sqlite() {
    let prefix = Prefix(format!("{}:", unique("redis")));
    let work = Workdir::new("redis");
    work.configure(&format!(
        "store = \"redis://127.0.0.1:6379\"\nusers_store = \"sqlite:users.db\"\nredis_prefix = \"{}\"\n",
        prefix.0
    ));
    two_instances_share_sessions_and_epochs(&work);
    drop(work);
}
